import type { NatsClient } from "@fig/events";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";

/** The service's file storage: a JetStream object-store bucket (no extra infrastructure). */
export type FileStore = {
  /** Stores the stream; resolves to its size and SHA-256 (hex), computed by the object store on the way in. */
  put(name: string, body: ReadableStream<Uint8Array>): Promise<{ bytes: number; sha256: string }>;
  /** The object's bytes, read from the server only as fast as the caller consumes them. */
  get(name: string): Promise<ReadableStream<Uint8Array> | null>;
  delete(name: string): Promise<void>;
};

export function bucketName(namespace: string): string {
  return `${namespace}_validation_files`;
}

const MS_NS = 1_000_000;
/**
 * Chunks (128 KiB each) fetched per read, and held ahead of the reader: the next fetch goes out while the reader
 * parses the last one, so it rarely waits for the round trip; at most 2 reads (1 MiB) sit in memory.
 */
const CHUNKS_PER_READ = 4;

/** "SHA-256=<base64url>" (the object store's digest) → hex. */
function digestToHex(digest: string): string {
  const b64 = digest
    .replace(/^SHA-256=/i, "")
    .replace(/-/g, "+")
    .replace(/_/g, "/");
  return [...atob(b64)].map((ch) => ch.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

/** Opens (creating on first use) the bucket of this namespace. */
export function createFileStore(nats: NatsClient, namespace: string): FileStore {
  const bucket = bucketName(namespace);
  let opened: Promise<ObjectStore> | undefined;
  const open = () => {
    opened ??= nats
      .connection()
      .then((nc) => new Objm(nc).create(bucket, { description: "Uploaded billing CSVs" }))
      .catch((error) => {
        opened = undefined;
        throw error;
      });
    return opened;
  };

  /**
   * @nats-io/obj's get() pushes every chunk into its stream without backpressure, so a slow reader (the worker,
   * waiting on Postgres) ends up holding the unread rest of the file in memory. This reads one batch of chunks
   * ahead of the caller, no more, through a short-lived pull consumer on the bucket's stream, and checks the
   * digest at the end as get() does.
   */
  async function get(name: string): Promise<ReadableStream<Uint8Array> | null> {
    const info = await (await open()).info(name);
    if (!info || info.deleted) return null;
    if (info.size === 0) return new Response(new Uint8Array(0)).body as ReadableStream<Uint8Array>;
    const jsm = await nats.manager();
    const stream = `OBJ_${bucket}`;
    const created = await jsm.consumers.add(stream, {
      filter_subject: `$O.${bucket}.C.${info.nuid}`,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: 60_000 * MS_NS,
      mem_storage: true,
    });
    const consumer = await (await nats.jetstream()).consumers.get(stream, created.name);
    const hasher = new Bun.CryptoHasher("sha256");
    let received = 0;
    let chunks = 0;
    const release = () => jsm.consumers.delete(stream, created.name).catch(() => {});
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            // Never ask for more chunks than remain, or the fetch would wait out its expiry for nothing.
            const want = Math.min(CHUNKS_PER_READ, info.chunks - chunks);
            const batch = await consumer.fetch({ max_messages: want, expires: 10_000 });
            let got = 0;
            for await (const m of batch) {
              got++;
              chunks++;
              if (m.data.length === 0) continue;
              hasher.update(m.data as Uint8Array<ArrayBuffer>);
              received += m.data.length;
              controller.enqueue(m.data);
            }
            if (chunks >= info.chunks || received >= info.size) {
              await release();
              const computed = hasher.digest("hex");
              if (computed !== digestToHex(info.digest))
                controller.error(new Error(`object ${name} is corrupt: digest mismatch`));
              else controller.close();
            } else if (got === 0) {
              await release();
              controller.error(
                new Error(`object ${name}: no chunk arrived after ${received} of ${info.size} bytes`),
              );
            }
          } catch (error) {
            await release();
            controller.error(error);
          }
        },
        async cancel() {
          await release();
        },
      },
      { highWaterMark: CHUNKS_PER_READ },
    );
  }

  return {
    async put(name, body) {
      const info = await (await open()).put({ name }, body);
      return { bytes: info.size, sha256: digestToHex(info.digest) };
    },
    get,
    async delete(name) {
      await (await open()).delete(name);
    },
  };
}
