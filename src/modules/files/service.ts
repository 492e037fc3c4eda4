// Conventions for new code (dialect-neutral data access, events, git): CONTRIBUTING.md.
import { and, asc, eq, inArray, isNull, lt, notExists, or, sql, sum } from "drizzle-orm";
import type { Config } from "../../config";
import { type Database, first, type Tables } from "../../db";
import type { FileRow } from "../../db/messages/store";
import { nextChange } from "../../db/changes";
import { AppError, BadRequest, NotFound, PayloadTooLarge, ValidationFailed } from "../../errors";
import type { Logger } from "../../logger";
import { boundaryOf, type FilePart, filePart, MultipartError } from "../../lib/multipart";
import { type Storage, TooLarge } from "../../storage";
import { RoomAccess } from "../rooms/access";
import type { ProfileChanges, UserRow } from "../users/service";
import { cleanName, detectType, HEAD_BYTES, INLINE_IMAGES } from "./detect";
import { FileLinks } from "./links";
import type { FileView } from "./model";

/** Bytes a multipart body may carry besides its file: boundaries, part headers, small fields. */
export const FORM_OVERHEAD = 64 * 1024;
/** Bytes of an avatar upload. */
export const AVATAR_MAX_BYTES = 2 * 1024 * 1024;
/** The longer side of a stored avatar, in pixels. */
export const AVATAR_SIDE = 512;
/** Pixels an image may have to be decoded at all (checked from its header, before any pixel is decoded): 64 MB decoded. */
export const MAX_PIXELS = 16_000_000;
/** How long a file no message attaches is kept after its upload. */
export const ORPHAN_TTL_MS = 24 * 3_600_000;
/** A removal claimed this long ago and not finished (its process died) is taken up again. */
const CLAIM_STALE_MS = 3_600_000;
const SWEEP_BATCH = 100;

/** The name in every avatar's URL, `/files/<id>/avatar.webp`. */
export const AVATAR_NAME = "avatar.webp";
const AVATAR_PATH = /^\/files\/([0-9a-f-]{36})\/avatar\.webp$/;

function emptyFile(): ValidationFailed {
  return new ValidationFailed("Invalid body: file must be a non-empty file", { in: "body", fields: [{ field: "file", message: "must be a non-empty file" }] });
}

function quotaExceeded(quota: number): AppError {
  return new AppError(413, "QUOTA_EXCEEDED", `Your files would take more than your quota of ${quota} bytes: delete some first.`, { quota });
}

/** The first HEAD_BYTES of a stream, kept while the stream is passed on. */
function keepHead(body: AsyncIterable<Uint8Array>) {
  const head: Uint8Array[] = [];
  let kept = 0;
  async function* pass() {
    for await (const chunk of body) {
      if (kept < HEAD_BYTES) {
        const piece = chunk.subarray(0, HEAD_BYTES - kept);
        head.push(new Uint8Array(piece));
        kept += piece.byteLength;
      }
      yield chunk;
    }
  }
  return { body: pass(), head: () => Buffer.concat(head) };
}

/**
 * Width and height of an image (from its header), and a placeholder when it has at most
 * MAX_PIXELS (decoding takes 4 bytes a pixel); nulls for what cannot be read.
 */
async function measure(bytes: Uint8Array): Promise<{ width: number | null; height: number | null; preview: string | null }> {
  let size: { width: number; height: number };
  try {
    size = await new Bun.Image(bytes).metadata();
  } catch {
    return { width: null, height: null, preview: null };
  }
  let preview: string | null = null;
  if (size.width * size.height <= MAX_PIXELS) {
    try {
      preview = await new Bun.Image(bytes, { maxPixels: MAX_PIXELS }).placeholder();
    } catch {}
  }
  return { width: size.width, height: size.height, preview };
}

/**
 * Uploads, their links, attachments' files, avatars and the removal of files nothing needs.
 * Rows say what exists; bytes live in the storage under the file's id. A row claimed for
 * removal (`deletedAt`) is invisible; its bytes go first, then the row, so a removal cut short
 * is finished by a later sweep and never leaves a row without bytes in view.
 */
export class FileService {
  readonly links: FileLinks;
  private readonly access: RoomAccess;

  private get t(): Tables {
    return this.database.tables;
  }

  constructor(
    private readonly database: Database,
    readonly storage: Storage,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly profiles: ProfileChanges,
    private readonly now: () => number = Date.now,
  ) {
    this.links = new FileLinks(config.jwtSecret, config.fileUrlTtl, now);
    this.access = new RoomAccess(database);
  }

  /** A file as the API shows it, with a link for whoever is shown it. */
  view(row: FileRow): FileView {
    return {
      id: row.id,
      name: row.name,
      contentType: row.contentType,
      size: row.size,
      width: row.width,
      height: row.height,
      preview: row.preview,
      url: this.links.url(row.id, row.name),
      createdAt: row.createdAt.toISOString(),
    };
  }

  /** The file part of an upload request, once its declared length fits `maxBytes` (the body is streamed from here on). */
  private async part(request: Request, maxBytes: number): Promise<FilePart> {
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > maxBytes + FORM_OVERHEAD)
      throw new PayloadTooLarge(`The file is too large: at most ${maxBytes} bytes.`);
    const boundary = boundaryOf(request.headers.get("content-type"));
    if (!boundary || !request.body) throw new ValidationFailed("Invalid body: send multipart/form-data with one part named `file`", { in: "body", fields: [{ field: "file", message: "is required" }] });
    const part = await this.reading(filePart(request.body, boundary, "file", maxBytes + FORM_OVERHEAD), maxBytes);
    if (!part) throw new ValidationFailed("Invalid body: file is required", { in: "body", fields: [{ field: "file", message: "is required" }] });
    return part;
  }

  /** Multipart and storage failures as the API reports them. */
  private async reading<T>(work: Promise<T>, maxBytes: number, quota?: () => AppError): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof TooLarge) throw quota?.() ?? new PayloadTooLarge(`The file is too large: at most ${maxBytes} bytes.`);
      if (error instanceof MultipartError)
        throw error.kind === "too_large" ? new PayloadTooLarge(`The file is too large: at most ${maxBytes} bytes.`) : new BadRequest(error.message);
      throw error;
    }
  }

  /** Bytes of the user's live files. */
  private async used(userId: string): Promise<number> {
    const { files } = this.t;
    const [row] = await this.database.db.select({ bytes: sum(files.size) }).from(files).where(and(eq(files.ownerId, userId), isNull(files.deletedAt)));
    return Number(row?.bytes ?? 0);
  }

  /**
   * Stores an upload, streamed: refused (413) past UPLOAD_MAX_BYTES or the user's quota as soon
   * as the body runs past it, nothing kept. The type comes from the bytes; images are measured.
   */
  async upload(userId: string, request: Request): Promise<FileView> {
    const { uploadMaxBytes: max, uploadQuotaBytes: quota } = this.config;
    const room = quota - (await this.used(userId));
    if (room <= 0) throw quotaExceeded(quota);
    const part = await this.part(request, max);
    const id = Bun.randomUUIDv7();
    const limit = Math.min(max, room);
    const { body, head } = keepHead(part.body);
    const size = await this.reading(this.storage.put(id, body, limit), max, limit < max ? () => quotaExceeded(quota) : undefined);
    try {
      if (size === 0) throw emptyFile();
      const start = head();
      const contentType = await detectType(start, size <= start.byteLength);
      const measured = INLINE_IMAGES.has(contentType)
        ? await measure(await (await this.storage.read(id))!.bytes())
        : { width: null, height: null, preview: null };
      const row: FileRow = { id, ownerId: userId, kind: "upload", name: cleanName(part.filename), contentType, size, ...measured, createdAt: new Date(this.now()), deletedAt: null };
      await this.database.tx(async (db) => {
        // Uploads at the same time each passed the check before storing: the quota holds as committed.
        if ((await this.used(userId)) + size > quota) throw quotaExceeded(quota);
        await db.insert(this.t.files).values(row);
      });
      return this.view(row);
    } catch (error) {
      await this.storage.delete(id).catch(() => {});
      throw error;
    }
  }

  /** A live file row, or null. */
  private async row(id: string): Promise<FileRow | null> {
    const { files } = this.t;
    return first(await this.database.db.select().from(files).where(and(eq(files.id, id), isNull(files.deletedAt))).limit(1)) ?? null;
  }

  /** The file, for its uploader or a reader of a live message that attaches it; 404 for anyone else. */
  async get(userId: string, id: string): Promise<FileView> {
    const row = await this.row(id);
    if (!row || row.kind !== "upload") throw new NotFound("File");
    if (row.ownerId === userId) return this.view(row);
    const { messageFiles, messages } = this.t;
    const rooms = await this.database.db
      .selectDistinct({ roomId: messages.roomId })
      .from(messageFiles)
      .innerJoin(messages, eq(messages.id, messageFiles.messageId))
      .where(and(eq(messageFiles.fileId, id), isNull(messages.deletedAt)));
    for (const { roomId } of rooms) {
      const readable = await this.access.canRead(roomId, userId).then(() => true, () => false);
      if (readable) return this.view(row);
    }
    throw new NotFound("File");
  }

  /**
   * The uploader removes a file: it leaves every message that attached it at once (those
   * messages count as changed for `sync`), its bytes go after. Answers those messages' ids.
   */
  async remove(userId: string, id: string): Promise<string[]> {
    const { files, messageFiles, messages } = this.t;
    const at = new Date(this.now());
    const messageIds = await this.database.tx(
      async (db) => {
        // The claim first: an attaching send holding the row waits for it, or it waits for that send.
        const claimed = await db
          .update(files)
          .set({ deletedAt: at })
          .where(and(eq(files.id, id), eq(files.ownerId, userId), eq(files.kind, "upload"), isNull(files.deletedAt)))
          .returning({ id: files.id });
        if (claimed.length === 0) throw new NotFound("File");
        const detached = await db.delete(messageFiles).where(eq(messageFiles.fileId, id)).returning({ messageId: messageFiles.messageId });
        const ids = detached.map((d) => d.messageId);
        if (ids.length > 0) await db.update(messages).set({ changedAt: at, changeSeq: await nextChange(db, this.t) }).where(inArray(messages.id, ids));
        return ids;
      },
      { readCommitted: true },
    );
    await this.purge([id]);
    return messageIds;
  }

  /** Files of these messages, in each message's order, as the API shows them. One query. */
  async ofMessages(messageIds: string[]): Promise<Map<string, FileView[]>> {
    const byMessage = new Map<string, FileView[]>();
    if (messageIds.length === 0) return byMessage;
    const { files, messageFiles } = this.t;
    const rows = await this.database.db
      .select({ messageId: messageFiles.messageId, file: files })
      .from(messageFiles)
      .innerJoin(files, eq(files.id, messageFiles.fileId))
      .where(and(inArray(messageFiles.messageId, messageIds), isNull(files.deletedAt)))
      .orderBy(asc(messageFiles.messageId), asc(messageFiles.position));
    for (const { messageId, file } of rows) {
      let list = byMessage.get(messageId);
      if (!list) byMessage.set(messageId, (list = []));
      list.push(this.view(file));
    }
    return byMessage;
  }

  /**
   * After a message was deleted (its attachments already detached in that transaction): its
   * files that no other message attaches are removed, bytes included.
   */
  async removeUnattached(fileIds: string[]): Promise<void> {
    if (fileIds.length === 0) return;
    const { files } = this.t;
    await this.claimAndPurge(and(inArray(files.id, fileIds), eq(files.kind, "upload"), isNull(files.deletedAt))!);
  }

  /**
   * Removes uploads no message attaches 24 h after their upload, avatars their owner no longer
   * shows (replaced through PATCH /api/users/me, or the account anonymised), and finishes removals
   * cut short. Safe with several processes: rows are claimed in a transaction before any bytes go,
   * so each file is removed by one sweeper. Answers how many files were removed.
   */
  async sweep(): Promise<number> {
    const { files, users } = this.t;
    const now = this.now();
    const old = lt(files.createdAt, new Date(now - ORPHAN_TTL_MS));
    const orphan = and(eq(files.kind, "upload"), isNull(files.deletedAt), old);
    const shown = this.database.db
      .select({ one: sql`1` })
      .from(users)
      .where(and(eq(users.id, files.ownerId), eq(users.avatarUrl, sql`'/files/' || ${files.id} || '/avatar.webp'`)));
    const unusedAvatar = and(eq(files.kind, "avatar"), isNull(files.deletedAt), old, notExists(shown));
    const stale = lt(files.deletedAt, new Date(now - CLAIM_STALE_MS));
    let removed = 0;
    for (;;) {
      const count = await this.claimAndPurge(or(orphan, unusedAvatar, stale)!, SWEEP_BATCH);
      removed += count;
      if (count < SWEEP_BATCH) return removed;
    }
  }

  /**
   * Claims the files matching `where` that no message attaches (at most `limit`), then removes
   * their bytes and rows. The candidates are locked first and checked again in a statement of
   * their own, so an attachment committed while waiting for the lock is seen and kept.
   */
  private async claimAndPurge(where: ReturnType<typeof and> & object, limit = 1000): Promise<number> {
    const { files, messageFiles } = this.t;
    const at = new Date(this.now());
    const claimed = await this.database.tx(
      async (db) => {
        // An update that changes nothing, to lock the rows (what SELECT … FOR UPDATE would, in both dialects).
        const picked = db.select({ id: files.id }).from(files).where(where).orderBy(asc(files.id)).limit(limit);
        const locked = await db
          .update(files)
          .set({ deletedAt: sql`${files.deletedAt}` })
          .where(and(inArray(files.id, picked), where))
          .returning({ id: files.id });
        if (locked.length === 0) return [];
        const ids = locked.map((c) => c.id);
        const unattached = notExists(db.select({ one: sql`1` }).from(messageFiles).where(eq(messageFiles.fileId, files.id)));
        const rows = await db
          .update(files)
          .set({ deletedAt: at })
          .where(and(inArray(files.id, ids), unattached, where))
          .returning({ id: files.id });
        return rows.map((r) => r.id);
      },
      { readCommitted: true },
    );
    await this.purge(claimed);
    return claimed.length;
  }

  /** Bytes, then rows, of files already claimed. */
  private async purge(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) await this.storage.delete(id);
    const { files } = this.t;
    await this.database.tx((db) => db.delete(files).where(inArray(files.id, ids)));
  }

  /**
   * The user's avatar, from an uploaded PNG, JPEG, GIF or WebP of at most AVATAR_MAX_BYTES:
   * decoded (refused from its header past MAX_PIXELS) and re-encoded as WebP of at most
   * AVATAR_SIDE px, so nothing of the upload but its pixels survives. Answers its public URL.
   */
  async setAvatar(userId: string, request: Request): Promise<string> {
    const part = await this.part(request, AVATAR_MAX_BYTES);
    const pieces: Uint8Array[] = [];
    let size = 0;
    await this.reading(
      (async () => {
        for await (const chunk of part.body) {
          size += chunk.byteLength;
          if (size > AVATAR_MAX_BYTES) throw new TooLarge(AVATAR_MAX_BYTES);
          pieces.push(new Uint8Array(chunk));
        }
      })(),
      AVATAR_MAX_BYTES,
    );
    if (size === 0) throw emptyFile();
    const bytes = Buffer.concat(pieces);
    const type = await detectType(bytes.subarray(0, HEAD_BYTES), bytes.length <= HEAD_BYTES);
    const notImage = (problem: string) => new ValidationFailed(`Invalid body: file ${problem}`, { in: "body", fields: [{ field: "file", message: problem }] });
    if (!INLINE_IMAGES.has(type)) throw notImage("must be a PNG, JPEG, GIF or WebP image");
    let encoded: Uint8Array;
    try {
      encoded = await new Bun.Image(bytes, { maxPixels: MAX_PIXELS })
        .resize(AVATAR_SIDE, AVATAR_SIDE, { fit: "inside", withoutEnlargement: true })
        .webp({ quality: 85 })
        .bytes();
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw notImage(code === "ERR_IMAGE_TOO_MANY_PIXELS" ? `must have at most ${MAX_PIXELS} pixels` : "must be an image that can be decoded");
    }
    const meta = await new Bun.Image(encoded).metadata();
    const id = Bun.randomUUIDv7();
    await this.storage.put(id, encoded, encoded.byteLength);
    const url = `/files/${id}/avatar.webp`;
    const row: FileRow = { id, ownerId: userId, kind: "avatar", name: "avatar.webp", contentType: "image/webp", size: encoded.byteLength, width: meta.width, height: meta.height, preview: null, createdAt: new Date(this.now()), deletedAt: null };
    let change: { before: UserRow; after: UserRow };
    try {
      change = await this.database.tx(async (db) => {
        const { files } = this.t;
        const before = await this.user(userId);
        await db.insert(files).values(row);
        return { before, after: await this.setAvatarUrl(userId, url) };
      });
    } catch (error) {
      await this.storage.delete(id).catch(() => {});
      throw error;
    }
    await this.dropAvatar(userId, change.before.avatarUrl);
    await this.profiles.changed(change.before, change.after);
    return url;
  }

  /** Clears the user's avatar; a stored one is removed. */
  async removeAvatar(userId: string): Promise<void> {
    const { before, after } = await this.database.tx(async () => {
      const before = await this.user(userId);
      return { before, after: before.avatarUrl === null ? before : await this.setAvatarUrl(userId, null) };
    });
    await this.dropAvatar(userId, before.avatarUrl);
    await this.profiles.changed(before, after);
  }

  /** The user's row, 404 when there is none (inside a transaction: as it sees it). */
  private async user(userId: string): Promise<UserRow> {
    const user = await this.database.lookups.user(userId);
    if (!user) throw new NotFound("User");
    return user;
  }

  /** Call inside a transaction: answers the row as updated. */
  private async setAvatarUrl(userId: string, avatarUrl: string | null): Promise<UserRow> {
    const { users } = this.t;
    const user = first(await this.database.db.update(users).set({ avatarUrl }).where(eq(users.id, userId)).returning());
    if (!user) throw new NotFound("User");
    return user;
  }

  /** Removes the stored avatar a user's former avatarUrl named, if it was one of theirs. */
  private async dropAvatar(userId: string, avatarUrl: string | null): Promise<void> {
    const id = avatarUrl && AVATAR_PATH.exec(avatarUrl)?.[1];
    if (!id) return;
    const { files } = this.t;
    await this.claimAndPurge(and(eq(files.id, id), eq(files.ownerId, userId), eq(files.kind, "avatar"), isNull(files.deletedAt))!);
  }

  /** Files and their bytes, for the admin stats. */
  async totals(): Promise<{ files: number; bytes: number }> {
    const { files } = this.t;
    const [row] = await this.database.db
      .select({ files: sql<number>`count(*)`, bytes: sum(files.size) })
      .from(files)
      .where(isNull(files.deletedAt));
    return { files: Number(row?.files ?? 0), bytes: Number(row?.bytes ?? 0) };
  }

  /** The live file a request for `/files/:id/...` names, or null. */
  servable(id: string): Promise<FileRow | null> {
    return this.row(id);
  }

  /** Logs a sweep's failure; the next sweep tries again. */
  sweepQuietly(): Promise<void> {
    return this.sweep().then(
      (removed) => {
        if (removed > 0) this.logger.info("files swept", { removed });
      },
      (error) => this.logger.error("file sweep failed", { error: error instanceof Error ? error.message : String(error) }),
    );
  }
}
