import { Type } from "@sinclair/typebox";
import { t } from "elysia";

const Int = Type.Integer;

export const FileView = t.Object(
  {
    id: t.String(),
    name: t.String({ description: "As uploaded, cleaned of path separators and control characters" }),
    contentType: t.String({ description: "Detected from the bytes; application/octet-stream when unknown", examples: ["image/png"] }),
    size: Int({ minimum: 1 }),
    width: t.Nullable(Int({ description: "Images only" })),
    height: t.Nullable(Int({ description: "Images only" })),
    preview: t.Nullable(t.String({ description: "Images only: a tiny blurred placeholder (ThumbHash) as a data: URL" })),
    url: t.String({
      description: "A signed link `/files/:id/:name?exp=&sig=`, valid for FILE_URL_TTL at most; missing, bad or expired → 404",
    }),
    createdAt: t.String({ format: "date-time" }),
  },
  { description: "An uploaded file" },
);
export type FileView = typeof FileView.static;

/** The multipart form of the upload routes, for the OpenAPI document (the handlers stream the body themselves). */
export const UploadForm = t.Object({ file: t.File({ description: "The file: one part named `file`" }) });
