/** Attachments over the WebSocket: the send, message.new for members only, and sync replays (new and changed). */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { png } from "../files-fixtures";
import { manualClock, readResponse, type TestUser } from "../helpers";
import { eventually, type LiveServer, startServer } from "./helpers";

let server: LiveServer;
afterEach(async () => {
  await server?.close();
});

async function upload(user: TestUser, bytes: Uint8Array, name: string) {
  const form = new FormData();
  form.append("file", new File([bytes], name));
  const res = await readResponse(
    await fetch(`http://127.0.0.1:${server.port}/api/files`, { method: "POST", headers: { authorization: `Bearer ${user.token}` }, body: form }),
  );
  expect(res.status).toBe(201);
  return res.body;
}

test("a socket sends attachments with no text; members get them in message.new and sync; an outsider gets nothing", async () => {
  const clock = manualClock();
  server = await startServer({}, { now: clock.now });
  const [alice, bob, eve] = [await server.user(), await server.user(), await server.user()];
  const roomId = (await server.call("POST", "/api/rooms", { token: alice.token, body: { name: "r", memberIds: [bob.id] } })).body.id;
  const file = await upload(alice, png(6, 6), "six.png");
  const sig = new URL(file.url, "http://x").searchParams.get("sig")!;

  const aliceWs = await server.connect(alice);
  const bobWs = await server.connect(bob);
  const eveWs = await server.connect(eve);
  aliceWs.send({ type: "message.send", roomId, content: "", clientId: "c1", attachments: [file.id] });
  const ack = await aliceWs.next("ack");
  expect(ack.message.attachments).toEqual([file]);
  const seen = await bobWs.next("message.new");
  expect(seen.message).toEqual(ack.message);

  // Someone else's file over the socket: refused like REST.
  eveWs.send({ type: "message.send", roomId, content: "x", clientId: "e1", attachments: [file.id] });
  expect((await eveWs.next("error")).error.code).toBe("NOT_FOUND");
  const eveRoom = (await server.call("POST", "/api/rooms", { token: eve.token, body: { name: "e" } })).body.id;
  eveWs.send({ type: "message.send", roomId: eveRoom, content: "x", clientId: "e2", attachments: [file.id] });
  expect((await eveWs.next("error")).error.code).toBe("VALIDATION_FAILED");
  // An outsider asking to sync the room gets no message.
  eveWs.send({ type: "sync", rooms: { [roomId]: 0 } });
  await eveWs.next("sync.done");

  // Bob, away while the file is deleted, resumes: the message comes back without it.
  const readyAt = bobWs.ready.at;
  bobWs.close();
  await bobWs.waitClosed();
  clock.advance(1000);
  expect((await server.call("DELETE", `/api/files/${file.id}`, { token: alice.token })).status).toBe(204);
  const updated = await aliceWs.next("message.updated");
  expect(updated.message.attachments).toEqual([]);
  const back = await server.connect(bob);
  back.send({ type: "sync", rooms: { [roomId]: 1 }, since: readyAt });
  await back.next("sync.done");
  expect(back.frames.find((f) => f.type === "message.updated")?.message.attachments).toEqual([]);

  // A fresh sync from the start of a message that still has one carries it.
  const other = await upload(alice, png(3, 3), "three.png");
  await server.call("POST", `/api/rooms/${roomId}/messages`, { token: alice.token, body: { content: "again", attachments: [other.id] } });
  const fresh = await server.connect(bob);
  fresh.send({ type: "sync", rooms: { [roomId]: 0 } });
  await fresh.next("sync.done");
  const replayed = fresh.frames.filter((f) => f.type === "message.new").map((f) => f.message.attachments.map((a: { id: string }) => a.id));
  expect(replayed).toEqual([[], [other.id]]);

  await eventually(() => eveWs.frames.length > 0, "eve's frames");
  expect(JSON.stringify(eveWs.frames).includes(sig)).toBe(false);
  expect(JSON.stringify(eveWs.frames).includes(new URL(other.url, "http://x").searchParams.get("sig")!)).toBe(false);
});

/** Sends `head` alone on a new connection and resolves with what comes back before the server closes or goes quiet. */
function headOnly(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = "";
    const timer = setTimeout(() => reject(new Error(`no answer within 5 s (got ${JSON.stringify(received)})`)), 5000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (socket) => void socket.write(head),
        data(socket, data) {
          received += new TextDecoder().decode(data);
          if (/^HTTP\/1\.1 \d{3}/.test(received) && received.includes("\r\n\r\n")) {
            clearTimeout(timer);
            socket.end();
            resolve(received);
          }
        },
        close() {
          clearTimeout(timer);
          resolve(received);
        },
      },
    }).catch(reject);
  });
}

test("over the network: a 5 GiB upload is refused with 413, streamed or declared, and nothing is stored", async () => {
  server = await startServer({ uploadMaxBytes: 256 * 1024 });
  const alice = await server.user();
  let sent = 0;
  let opened = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!opened) {
        opened = true;
        return controller.enqueue(new TextEncoder().encode('--b\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'));
      }
      if (sent >= 5 * 1024 ** 3) return controller.close();
      sent += 65536;
      controller.enqueue(new Uint8Array(65536));
    },
  });
  const streamed = await fetch(`http://127.0.0.1:${server.port}/api/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${alice.token}`, "content-type": "multipart/form-data; boundary=b" },
    body,
    duplex: "half",
  } as RequestInit);
  expect(streamed.status).toBe(413);
  expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");
  expect(sent).toBeLessThan(64 * 1024 * 1024); // the client stopped long before 5 GiB

  const declared = await headOnly(
    server.port,
    `POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice.token}\r\n` +
      `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${5 * 1024 ** 3}\r\n\r\n`,
  );
  expect(declared).toStartWith("HTTP/1.1 413");
  expect(await server.services.files.totals()).toEqual({ files: 0, bytes: 0 });
  const directory = server.services.files.storage.directory!;
  expect(existsSync(directory) ? readdirSync(directory) : []).toEqual([]);
});
