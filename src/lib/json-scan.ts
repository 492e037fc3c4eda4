/**
 * How deep free JSON (a message's `metadata`) may nest, fixed by the contract: `{}` is one level,
 * `{"a":[1]}` two. A request body or a frame holds such a value one level below its own root.
 */
export const JSON_MAX_DEPTH = 32;

export interface JsonScan {
  /**
   * Where the text first nests deeper than allowed: the top-level key it happened under, or ""
   * when the root is an array; undefined when it stays within bounds.
   */
  tooDeepAt: string | undefined;
  /** The top-level string members asked for (first occurrence), decoded. */
  strings: Record<string, string>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** The index of the quote that closes the string opening at `start`, or the text's length. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** The string literal from `start` to `end` (its quotes), decoded; null when it is not valid JSON. */
function decodeString(text: string, start: number, end: number): string | null {
  const inner = text.slice(start + 1, end);
  if (!inner.includes("\\")) return inner;
  try {
    return JSON.parse(text.slice(start, end + 1)) as string;
  } catch {
    return null;
  }
}

/**
 * Reads JSON text once, in a loop, building nothing but the strings asked for: how deep it nests
 * (counting brackets outside strings) and the top-level string members named in `keep`. It runs
 * before JSON.parse, so that nothing recursive (parse, validation, stringify) ever sees a value
 * nested deeper than `maxDepth`. It does not check the text is JSON: JSON.parse does that after.
 * It stops as soon as the text is too deep and every `keep` member is found.
 */
export function scanJson(text: string, maxDepth: number, keep: readonly string[] = []): JsonScan {
  const strings: Record<string, string> = {};
  let tooDeepAt: string | undefined;
  let found = 0;
  let depth = 0;
  let rootIsObject = false;
  // In the root object: whether the next string is a key, and the key of the member being read.
  let expectKey = false;
  let key = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1 && rootIsObject) {
        if (expectKey) {
          key = decodeString(text, i, end) ?? "";
          expectKey = false;
        } else if (keep.includes(key) && !Object.hasOwn(strings, key)) {
          const value = decodeString(text, i, end);
          if (value !== null) {
            strings[key] = value;
            if (++found === keep.length && tooDeepAt !== undefined) break;
          }
        }
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      if (depth === 1) {
        rootIsObject = c === OPEN_OBJECT;
        expectKey = rootIsObject;
      }
      if (depth > maxDepth && tooDeepAt === undefined) {
        tooDeepAt = rootIsObject ? key : "";
        if (found === keep.length) break;
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    } else if (c === COMMA && depth === 1 && rootIsObject) {
      expectKey = true;
    }
  }
  return { tooDeepAt, strings };
}

/** A key for a message: cut short, so that a huge one does not make a huge error. */
/**
 * Whether the text holds more than `maxDepth` opening brackets, anywhere (in strings too): only
 * then can it nest deeper than `maxDepth`. Found by native searches that jump from bracket to
 * bracket, so the common case, a little JSON with a few brackets, costs next to nothing and
 * needs no scanJson.
 */
export function mayNestDeeperThan(text: string, maxDepth: number): boolean {
  let count = 0;
  for (const bracket of ["{", "["]) {
    for (let at = text.indexOf(bracket); at !== -1; at = text.indexOf(bracket, at + 1)) if (++count > maxDepth) return true;
  }
  return false;
}

export const shownKey = (key: string) => (key.length > 64 ? `${key.slice(0, 64)}…` : key);
