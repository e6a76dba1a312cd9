/** A body read for comparison: its text, or why it was not kept. */
export type CapturedBody =
  | { kind: "ok"; text: string }
  | { kind: "too-large" }
  | { kind: "error"; error: unknown };

/**
 * Reads a body eagerly up to `capBytes`, then gives up and cancels it. Eager, because this is one branch of
 * a tee: an unread branch would buffer the whole body in memory while the client's branch streams on.
 */
export async function captureBody(
  body: ReadableStream<Uint8Array> | null,
  capBytes: number,
): Promise<CapturedBody> {
  if (!body) return { kind: "ok", text: "" };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > capBytes) {
        await reader.cancel();
        return { kind: "too-large" };
      }
      chunks.push(value);
    }
  } catch (error) {
    return { kind: "error", error };
  }
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { kind: "ok", text: new TextDecoder().decode(joined) };
}

/**
 * The body as the upstream meant it: gzip/deflate decoded with the web-standard DecompressionStream (the
 * proxy passes encodings through untouched); null for an encoding it cannot decode, which is not compared.
 * The size cap then applies to the decoded bytes.
 */
export function decodedBody(body: ReadableStream<Uint8Array> | null, contentEncoding: string | null) {
  const encoding = contentEncoding?.trim().toLowerCase() ?? "identity";
  if (!body || encoding === "" || encoding === "identity") return { body };
  if (encoding === "gzip" || encoding === "x-gzip" || encoding === "deflate") {
    const format = encoding === "deflate" ? "deflate" : "gzip";
    // The DOM lib types DecompressionStream over Uint8Array<ArrayBuffer> only; the bytes are the same.
    const decompress = new DecompressionStream(format) as unknown as ReadableWritablePair<
      Uint8Array,
      Uint8Array
    >;
    return { body: body.pipeThrough(decompress) };
  }
  return null;
}

/** Parses JSON, or says it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

export function isJsonContentType(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || type.endsWith("+json");
}
