import type { NatsClient } from "@fig/events";
import { type ObjectStore, Objm } from "@nats-io/obj";

/** The service's file storage: a JetStream object-store bucket (no extra infrastructure). */
export type FileStore = {
  put(name: string, body: ReadableStream<Uint8Array>): Promise<void>;
  get(name: string): Promise<ReadableStream<Uint8Array> | null>;
  delete(name: string): Promise<void>;
};

export function bucketName(namespace: string): string {
  return `${namespace}_validation_files`;
}

/** Opens (creating on first use) the bucket of this namespace. */
export function createFileStore(nats: NatsClient, namespace: string): FileStore {
  let bucket: Promise<ObjectStore> | undefined;
  const open = () => {
    bucket ??= nats
      .connection()
      .then((nc) => new Objm(nc).create(bucketName(namespace), { description: "Uploaded billing CSVs" }))
      .catch((error) => {
        bucket = undefined;
        throw error;
      });
    return bucket;
  };
  return {
    async put(name, body) {
      await (await open()).put({ name }, body);
    },
    async get(name) {
      const result = await (await open()).get(name);
      return result?.data ?? null;
    },
    async delete(name) {
      await (await open()).delete(name);
    },
  };
}
