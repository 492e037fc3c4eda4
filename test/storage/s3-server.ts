import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import type { S3Settings } from "../../src/config";

/** A local S3-compatible server (s3rver) on loopback and a free port, with one bucket, in a temporary directory. */
export async function startS3(bucket = "bunchat") {
  const directory = mkdtempSync(join(tmpdir(), "bunchat-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  // s3rver's winston formats each entry as JSON with a safe-stable-stringify newer than the one
  // installed beside it; its output is silenced anyway, so entries pass through unformatted.
  (server as unknown as { logger: { format: unknown } }).logger.format = { transform: (info: unknown) => info, options: {} };
  const { port } = await server.run();
  const settings: S3Settings = { endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  return {
    settings,
    url: `s3://${bucket}`,
    async [Symbol.asyncDispose]() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
