import { CLAIMS_HEAD_BYTES, inspectClaimsHead } from "@dash/billing";
import { type Database, withTenant } from "@fig/db";
import "@dash/billing-validation/events"; // the events it records
import { enqueueEvent } from "@fig/events";
import { DomainError } from "@fig/service";
import { files } from "../db/schema.ts";
import type { FileStore } from "./object-store.ts";

export type Caller = { tenant: string; sub: string; traceparent?: string | undefined };
export type FileRow = typeof files.$inferSelect;

export class TooLargeError extends Error {}

/** Counts bytes as they stream through, failing the stream past `maxBytes`. */
function limitSize(maxBytes: number) {
  let bytes = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) {
        controller.error(new TooLargeError(`The file is larger than the ${maxBytes}-byte limit`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
}

/**
 * Reads the first KiB of `body` and refuses what is not delimited text (binary: `unsupported_content`; no
 * delimiter in the first line: `unprocessable`) before anything is stored. Returns the whole body again, the head replayed first.
 */
export async function assertDelimitedText(
  body: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  while (size < CLAIMS_HEAD_BYTES) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const problem = inspectClaimsHead(concat(chunks, size), ended);
  if (problem) {
    await reader.cancel().catch(() => {});
    throw new DomainError(
      problem.kind === "binary" ? "unsupported_content" : "unprocessable",
      `${problem.detail} Nothing was stored.`,
    );
  }
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const head = chunks.shift();
        if (head) return controller.enqueue(head);
        const { done, value } = ended ? { done: true, value: undefined } : await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/**
 * Streams an upload into the object store while hashing it, then records its metadata and `file.uploaded`
 * in one tenant transaction. Binary or undelimited content is refused before the object store is touched
 * ({@link assertDelimitedText}); on any later failure, nothing is left behind (the object is deleted).
 */
export async function storeUpload(
  { db, store }: { db: Database; store: FileStore },
  caller: Caller,
  upload: { name: string; contentType: string; body: ReadableStream<Uint8Array>; maxBytes: number },
): Promise<FileRow> {
  const body = await assertDelimitedText(upload.body);
  const id = crypto.randomUUID();
  const objectName = `${caller.tenant}/${id}`;
  let stored: { bytes: number; sha256: string };
  try {
    // The object store hashes (SHA-256) and sizes the object as it writes it.
    stored = await store.put(objectName, body.pipeThrough(limitSize(upload.maxBytes)));
  } catch (error) {
    await store.delete(objectName).catch(() => {});
    if (error instanceof TooLargeError || (error as Error)?.cause instanceof TooLargeError) {
      throw new DomainError(
        "too_large",
        `The file is larger than the ${upload.maxBytes}-byte limit; nothing was stored`,
      );
    }
    throw error;
  }
  const { bytes, sha256: digest } = stored;
  try {
    return await withTenant(db, caller.tenant, async (tx) => {
      const [row] = await tx
        .insert(files)
        .values({
          id,
          tenant_id: caller.tenant,
          name: upload.name,
          bytes,
          sha256: digest,
          content_type: upload.contentType,
          object_name: objectName,
          uploaded_by: caller.sub,
        })
        .returning();
      await enqueueEvent(
        tx,
        "file.uploaded",
        { fileId: id, name: upload.name, bytes, sha256: digest },
        {
          tenant: caller.tenant,
          subject: `files/${id}`,
          ...(caller.traceparent ? { traceparent: caller.traceparent } : {}),
        },
      );
      return row as FileRow;
    });
  } catch (error) {
    await store.delete(objectName).catch(() => {});
    throw error;
  }
}
