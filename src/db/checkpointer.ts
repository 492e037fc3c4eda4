/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside whichever
 * COMMIT takes the WAL past 1,000 pages, on the connection's own thread (here the event
 * loop), and it syncs the database file: every few hundred commits one request waits on the
 * disk for milliseconds. A PASSIVE checkpoint never blocks the writer or the readers, so a
 * worker with its own connection runs one on a timer instead, and the server's connection
 * turns its automatic checkpoints off (see openSqlite).
 *
 * The worker's source is inline so that it runs from the compiled executable too.
 */
const WORKER_SOURCE = `
const { Database } = require("bun:sqlite");
let db = null;
let checkpoint = null;
let timer = null;
self.onmessage = ({ data }) => {
  if (data.type === "start") {
    db = new Database(data.path);
    db.exec("PRAGMA busy_timeout = 1000");
    checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    timer = setInterval(() => {
      try { checkpoint.get(); } catch {}
    }, data.intervalMs);
  } else if (data.type === "stop") {
    clearInterval(timer);
    // A statement left unfinalized would keep the connection open past close().
    try { checkpoint?.finalize(); db?.close(); } catch {}
    postMessage({ type: "stopped" });
  }
};
`;

export interface Checkpointer {
  /** Stops the timer and closes the worker's connection, so that the server's close is the last one. */
  stop(): Promise<void>;
}

/** Checkpoints the database file at `path` every `intervalMs`; null when no worker could be started. */
export function startCheckpointer(path: string, intervalMs = 500): Checkpointer | null {
  let worker: Worker;
  try {
    worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" })));
  } catch {
    return null;
  }
  // The timer lives in the worker; it must not keep the process alive.
  worker.unref();
  worker.postMessage({ type: "start", path, intervalMs });
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        const stopped = new Promise<void>((resolve) =>
          worker.addEventListener("message", (event) => {
            if ((event as MessageEvent<{ type?: string }>).data?.type === "stopped") resolve();
          }),
        );
        worker.postMessage({ type: "stop" });
        let timer: Timer | undefined;
        await Promise.race([stopped, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
        clearTimeout(timer);
        worker.terminate();
      })();
      return stopping;
    },
  };
}
