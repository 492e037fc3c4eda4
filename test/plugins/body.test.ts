import { afterEach, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { errorCode, readResponse, setup, type TestContext } from "../helpers";

const MAX = 1024;

let ctx: TestContext;
let server: { stop(): Promise<void> } | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
  await ctx?.close();
});

/** A body of `size` bytes that counts how often it is read from. */
function countedBody(size: number) {
  let left = size;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        stream.pulls++;
        const chunk = Math.min(left, 512);
        left -= chunk;
        controller.enqueue(new Uint8Array(chunk).fill(32));
        if (left === 0) controller.close();
      },
    },
    { highWaterMark: 0 },
  ) as ReadableStream<Uint8Array> & { pulls: number };
  stream.pulls = 0;
  return stream;
}

/** Writes `head` on a raw connection and resolves with what comes back until the server closes or answers. */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = "";
    const timer = setTimeout(() => reject(new Error(`no answer within 3 s (got ${JSON.stringify(received)})`)), 3000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          socket.write(head);
        },
        data(socket, data) {
          received += new TextDecoder().decode(data);
          const [headers, body] = received.split("\r\n\r\n");
          const length = /content-length: (\d+)/i.exec(headers ?? "");
          if (body !== undefined && length && new TextEncoder().encode(body).length >= Number(length[1])) {
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

describe("JSON only", () => {
  test("a form, multipart or text body gets 400 BAD_REQUEST and is not parsed", async () => {
    ctx = setup();
    const fields = { username: "formuser", password: "correct-horse-battery" };
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    for (const [path, body] of [
      ["/api/auth/register", new URLSearchParams(fields)],
      ["/api/auth/register", form],
      ["/api/auth/login", new URLSearchParams(fields)],
    ] as const) {
      const res = await readResponse(await ctx.app.handle(new Request(`http://localhost${path}`, { method: "POST", body })));
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe("BAD_REQUEST");
      expect(res.body.error.message).toContain("application/json");
    }
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/xml", "application/json-patch+json"]) {
      const res = await ctx.call("POST", "/api/auth/register", { body: JSON.stringify(fields), headers: { "content-type": type } });
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe("BAD_REQUEST");
    }
    // Nothing of it was taken: the name is still free.
    expect((await ctx.call("POST", "/api/auth/register", { body: fields })).status).toBe(201);
  });

  test("application/json with or without a charset is accepted", async () => {
    ctx = setup();
    for (const [i, type] of ["application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8"].entries()) {
      const body = { username: `jsonuser${i}`, password: "correct-horse-battery" };
      expect((await ctx.call("POST", "/api/auth/register", { body, headers: { "content-type": type } })).status).toBe(201);
    }
  });

  test("a request without a body needs no content type, whatever it says", async () => {
    ctx = setup();
    const u = await ctx.user();
    const room = await ctx.call("POST", "/api/rooms", { token: u.token, body: { name: "plain", visibility: "public" } });
    const other = await ctx.user();
    const join = await ctx.app.handle(
      new Request(`http://localhost/api/rooms/${room.body.id}/join`, {
        method: "POST",
        headers: { authorization: `Bearer ${other.token}`, "content-type": "text/plain;charset=UTF-8", "content-length": "0" },
      }),
    );
    expect(join.status).toBe(200);
  });
});

describe("MAX_BODY_BYTES", () => {
  test("a declared Content-Length over the limit gets 413 PAYLOAD_TOO_LARGE without the body being read", async () => {
    ctx = setup({ limits: { maxBodyBytes: MAX } as never });
    const body = countedBody(MAX + 1);
    const res = await readResponse(
      await ctx.app.handle(
        new Request("http://localhost/api/auth/login", {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": String(MAX + 1) },
          body,
          duplex: "half",
        } as RequestInit),
      ),
    );
    expect(res.status).toBe(413);
    expect(errorCode(res)).toBe("PAYLOAD_TOO_LARGE");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(body.pulls).toBe(0);
  });

  test("a body at the limit goes through", async () => {
    ctx = setup({ limits: { maxBodyBytes: MAX } as never });
    const exact = JSON.stringify({ username: "someone", password: "wrong-password" }).padEnd(MAX, " ");
    expect(new TextEncoder().encode(exact).length).toBe(MAX);
    const res = await ctx.call("POST", "/api/auth/login", { body: exact });
    expect(res.status).toBe(401);
  });

  test("over the network: the envelope is sent at once for a declared length, and Bun stops what goes beyond", async () => {
    ctx = setup({ limits: { maxBodyBytes: MAX } as never });
    const app = createApp(ctx.services).listen({ port: 0, hostname: "127.0.0.1" });
    server = { stop: async () => void (await app.stop(true)) };
    const port = app.server!.port!;

    // Only the head: had the server waited for the body, no answer would come.
    const answer = await rawExchange(
      port,
      `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${MAX + 1}\r\n\r\n`,
    );
    expect(answer).toStartWith("HTTP/1.1 413");
    expect(JSON.parse(answer.split("\r\n\r\n")[1]!).error.code).toBe("PAYLOAD_TOO_LARGE");

    // A chunked body has no length to check up front: Bun cuts it off past its backstop.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"username":"someone","password":"${"x".repeat(3 * MAX)}"}`));
        controller.close();
      },
    });
    const res = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunked,
    });
    expect(res.status).toBe(413);
  });
});
