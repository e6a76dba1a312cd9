export type ClaimsEncoding = "utf-8" | "windows-1252" | "utf-16le" | "utf-16be";

/**
 * Decodes a byte stream chunk by chunk. With `encoding: "auto"` a UTF-16 BOM (FF FE or FE FF, as Excel's
 * "Unicode text" export writes) means UTF-16 LE/BE; otherwise the choice is made at the first non-ASCII byte
 * (ASCII reads the same in both): valid UTF-8 there → UTF-8, else Windows-1252 (a superset of Latin-1 for
 * printable text). A BOM is dropped. The decoders run in streaming mode, so a code unit, a surrogate pair or
 * a UTF-8 sequence split across chunks is joined. Holds at most one chunk.
 */
export async function* decodeChunks(
  stream: ReadableStream<Uint8Array>,
  encoding: ClaimsEncoding | "auto" = "auto",
): AsyncGenerator<string> {
  const reader = stream.getReader();
  let decoder = encoding === "auto" ? undefined : new TextDecoder(encoding);
  // Bytes not yet decoded while undecided: an incomplete multi-byte sequence at a chunk's end.
  let pending: Uint8Array | undefined;
  // A UTF-16 BOM is looked for in the first two bytes, which may arrive in two chunks.
  let bomChecked = encoding !== "auto";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (decoder) {
        const text = decoder.decode(value, { stream: true });
        if (text !== "") yield text;
        continue;
      }
      const bytes = pending ? concat(pending, value) : value;
      pending = undefined;
      if (!bomChecked) {
        if (bytes.length < 2) {
          pending = bytes.slice();
          continue;
        }
        bomChecked = true;
        const utf16 = utf16ByBom(bytes);
        if (utf16) {
          decoder = new TextDecoder(utf16); // drops the BOM (ignoreBOM is false)
          const text = decoder.decode(bytes, { stream: true });
          if (text !== "") yield text;
          continue;
        }
      }
      const decided = decide(bytes);
      if (decided === undefined) {
        const cut = firstNonAscii(bytes);
        if (cut > 0) yield latin1(bytes.subarray(0, cut));
        pending = bytes.slice(cut);
        continue;
      }
      decoder = new TextDecoder(decided);
      const text = decoder.decode(bytes, { stream: true });
      if (text !== "") yield text;
    }
    if (decoder) {
      const rest = decoder.decode();
      if (rest !== "") yield rest;
    } else if (pending && pending.length > 0) {
      // Only a BOM, or an incomplete UTF-8 sequence at the very end (then it was not UTF-8).
      const text = decodeTail(pending);
      if (text !== "") yield text;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** "utf-16le" or "utf-16be" when `bytes` start with that byte order mark. */
export function utf16ByBom(bytes: Uint8Array): "utf-16le" | "utf-16be" | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "utf-16be";
  return undefined;
}

/** The encoding these bytes prove, or undefined while they are ASCII (plus an incomplete tail). */
function decide(bytes: Uint8Array): ClaimsEncoding | undefined {
  const start = firstNonAscii(bytes);
  if (start === bytes.length) return undefined;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start), { stream: true });
    return text === "" ? undefined : "utf-8";
  } catch {
    return "windows-1252";
  }
}

function decodeTail(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder("windows-1252").decode(bytes);
  }
}

function firstNonAscii(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) > 0x7f) return i;
  return bytes.length;
}

const asciiDecoder = new TextDecoder("windows-1252");
const latin1 = (ascii: Uint8Array): string => asciiDecoder.decode(ascii);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
