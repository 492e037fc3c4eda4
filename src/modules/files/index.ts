import { Elysia, t } from "elysia";
import { ErrorResponse, NotFound } from "../../errors";
import type { PresenceView } from "../../events";
import { authPlugin } from "../../plugins/auth";
import type { AuthService } from "../auth/service";
import type { MessageService } from "../messages/service";
import { IdParam } from "../schemas";
import { OwnUser } from "../users/model";
import { toOwnUser, type UserService } from "../users/service";
import { FileView } from "./model";
import { serveFile } from "./serve";
import type { FileService } from "./service";

/** The OpenAPI request body of an upload: the handlers stream it themselves (no body schema, no parsing). */
const uploadBody = (description: string) => ({
  required: true,
  content: {
    "multipart/form-data": {
      schema: { type: "object", required: ["file"], properties: { file: { type: "string", format: "binary", description } } },
    },
  },
});

const FileParams = t.Object({ id: IdParam("File") });

/** Paths whose body is a multipart upload the handler streams (see plugins/body.ts). */
export const UPLOAD_ROUTES = new Set(["POST /api/files", "PUT /api/users/me/avatar"]);

export function filesModule(deps: { auth: AuthService; files: FileService; messages: MessageService; users: UserService; presence: PresenceView }) {
  const { auth, files, messages, users, presence } = deps;
  return new Elysia({ tags: ["Files"] })
    .use(authPlugin(auth))
    .post(
      "/api/files",
      async ({ caller, request, set }) => {
        const file = await files.upload(caller.userId, request);
        set.status = 201;
        return file;
      },
      {
        auth: true,
        response: { 201: FileView, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 422: ErrorResponse },
        detail: {
          summary: "Upload a file",
          description:
            "multipart/form-data with one part `file`. The type is detected from the bytes; images are measured. " +
            "Over UPLOAD_MAX_BYTES → 413 PAYLOAD_TOO_LARGE, refused as the body streams; over your quota (UPLOAD_QUOTA_BYTES) → " +
            "413 QUOTA_EXCEEDED; an empty file or no `file` part → 422. Attach it to a message by its id within 24 h, or it is removed.",
          requestBody: uploadBody("The file"),
        } as object,
      },
    )
    .get("/api/files/:id", ({ caller, params }) => files.get(caller.userId, params.id), {
      auth: true,
      params: FileParams,
      response: { 200: FileView, 401: ErrorResponse, 404: ErrorResponse },
      detail: { summary: "Get a file", description: "For its uploader, or a reader of a message that attaches it; 404 for anyone else." },
    })
    .delete(
      "/api/files/:id",
      async ({ caller, params, set }) => {
        const messageIds = await files.remove(caller.userId, params.id);
        await messages.announceChanged(messageIds);
        set.status = 204;
      },
      {
        auth: true,
        params: FileParams,
        response: { 204: t.Void(), 401: ErrorResponse, 404: ErrorResponse },
        detail: { summary: "Delete my file", description: "Uploader only; it disappears from the messages that attach it (message.updated)." },
      },
    )
    .put(
      "/api/users/me/avatar",
      async ({ caller, request }) => {
        await files.setAvatar(caller.userId, request);
        return toOwnUser(await users.get(caller.userId), presence);
      },
      {
        auth: true,
        response: { 200: OwnUser, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 422: ErrorResponse },
        detail: {
          tags: ["Users"],
          summary: "Upload my avatar",
          description:
            "multipart/form-data with one part `file`: a PNG, JPEG, GIF or WebP image (else 422) of at most 2 MiB (else 413). " +
            "It is decoded and re-encoded as WebP of at most 512 px on its longer side, so no metadata of the upload survives; " +
            "an image of too many pixels is refused (422) from its header. `avatarUrl` becomes a stable public URL.",
          requestBody: uploadBody("The image"),
        } as object,
      },
    )
    .delete(
      "/api/users/me/avatar",
      async ({ caller }) => {
        await files.removeAvatar(caller.userId);
        return toOwnUser(await users.get(caller.userId), presence);
      },
      {
        auth: true,
        response: { 200: OwnUser, 401: ErrorResponse },
        detail: { tags: ["Users"], summary: "Remove my avatar", description: "`avatarUrl` becomes null; a stored avatar is removed." },
      },
    )
    .get(
      "/files/:id/:name",
      async ({ params, query, request }) => {
        if (!/^[0-9a-f-]{36}$/.test(params.id)) throw new NotFound("File");
        return serveFile(files, params.id, params.name, query, request.headers.get("range"));
      },
      {
        query: t.Object({ exp: t.Optional(t.String()), sig: t.Optional(t.String()) }),
        detail: {
          summary: "Download a file",
          description:
            "By the signed link a File's `url` gives (avatars need no signature). Missing, bad or expired → 404. Served with " +
            "nosniff, `inline` only for PNG, JPEG, GIF and WebP, else `attachment`; `Range` requests get 206 (416 when " +
            "unsatisfiable); Cache-Control lasts as long as the link. With s3:// storage: 302 to a presigned URL of the same lifetime.",
          responses: {
            200: { description: "The bytes", content: { "*/*": { schema: { type: "string", format: "binary" } } } },
            206: { description: "The range asked for", content: { "*/*": { schema: { type: "string", format: "binary" } } } },
            302: { description: "S3 storage: a presigned URL (Location)" },
            404: { description: "No such file, or a missing, bad or expired link", content: { "application/json": { schema: ErrorResponse } } },
            416: { description: "The range lies beyond the file" },
          },
        } as object,
      },
    );
}
