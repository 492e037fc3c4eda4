import { useState } from "preact/hooks";
import { upload, users } from "../live";
import type { FileView, UserRef } from "../types";
import { ErrorLine, useAction } from "./form";
import { name } from "./text";

/** The types the server serves `inline`: only these are shown as images. */
const INLINE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const MAX_FILES = 10;

export function size(bytes: number) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A user's picture, or their initial when they have none; decorative next to their name. */
export function Avatar({ user, large = false }: { user: UserRef | undefined; large?: boolean }) {
  // As last heard (`users`, kept current by user.updated): a removed picture is null there.
  const known = user && users.value[user.id];
  const url = known ? known.avatarUrl : user?.avatarUrl;
  const kind = large ? "avatar large" : "avatar";
  if (url) return <img class={kind} src={url} alt="" width={large ? 64 : 24} height={large ? 64 : 24} />;
  return <span class={`${kind} initial`} aria-hidden="true">{name(user).slice(0, 1).toUpperCase()}</span>;
}

/** An image: its blurred `preview` first, then the file itself once loaded. */
function Picture({ file }: { file: FileView }) {
  const [loaded, setLoaded] = useState(false);
  const scale = Math.min(1, 320 / (file.width || 320), 240 / (file.height || 240));
  const width = Math.round((file.width || 320) * scale);
  const height = Math.round((file.height || 240) * scale);
  return (
    <a class="picture" href={file.url} target="_blank" rel="noopener noreferrer" style={{ width: `${width}px`, aspectRatio: `${width} / ${height}` }}>
      {file.preview && !loaded && <img class="placeholder" src={file.preview} alt="" width={width} height={height} />}
      <img class={loaded ? "" : "loading"} src={file.url} alt={file.name} width={width} height={height} onLoad={() => setLoaded(true)} />
    </a>
  );
}

export function Attachments({ files }: { files: FileView[] }) {
  if (files.length === 0) return null;
  return (
    <ul class="attachments" aria-label="Attachments">
      {files.map((file) => (
        <li key={file.id}>
          {INLINE.has(file.contentType) ? (
            <Picture file={file} />
          ) : (
            <a href={file.url} download={file.name} rel="noopener noreferrer">
              <span aria-hidden="true">📎 </span>
              {file.name} <span class="muted">({size(file.size)})</span>
            </a>
          )}
        </li>
      ))}
    </ul>
  );
}

/**
 * Files picked for the next message: each is uploaded at once, and the composer sends their ids.
 * `files` are the uploaded ones; `busy` is true while an upload runs.
 */
export function useAttachments() {
  const [files, setFiles] = useState<FileView[]>([]);
  const action = useAction(async (picked: File[]) => {
    for (const file of picked) {
      const uploaded = await upload(file);
      setFiles((held) => [...held, uploaded].slice(0, MAX_FILES));
    }
  });
  return {
    files,
    busy: action.busy,
    error: action.error,
    add: (picked: File[]) => void action.run(picked),
    remove: (id: string) => setFiles((held) => held.filter((f) => f.id !== id)),
    clear: () => setFiles([]),
  };
}

export function AttachButton({ id, attachments }: { id: string; attachments: ReturnType<typeof useAttachments> }) {
  return (
    <label class="button attach" for={id}>
      <span aria-hidden="true">📎</span>
      <span class="sr-only">Attach files</span>
      <input
        id={id}
        type="file"
        multiple
        class="sr-only"
        disabled={attachments.busy || attachments.files.length >= MAX_FILES}
        onChange={(event) => {
          const input = event.currentTarget;
          attachments.add([...(input.files ?? [])]);
          input.value = "";
        }}
      />
    </label>
  );
}

/** The files waiting to go with the next message, each removable. */
export function PickedFiles({ attachments }: { attachments: ReturnType<typeof useAttachments> }) {
  if (attachments.files.length === 0 && !attachments.busy && !attachments.error) return null;
  return (
    <div class="picked">
      <ul aria-label="Files to send">
        {attachments.files.map((file) => (
          <li key={file.id}>
            <span class="clip">{file.name}</span> <span class="muted">{size(file.size)}</span>
            <button type="button" aria-label={`Remove ${file.name}`} onClick={() => attachments.remove(file.id)}>✕</button>
          </li>
        ))}
        {attachments.busy && <li class="muted" role="status">Uploading…</li>}
      </ul>
      <ErrorLine error={attachments.error} />
    </div>
  );
}
