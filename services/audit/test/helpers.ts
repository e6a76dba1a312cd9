import { createNatsClient, deleteNamespace, ensureStreams, type NatsClient } from "@fig/events";
import { createLogger } from "@fig/service";
import { TEST_NATS_URL } from "@fig/testing";

export const MIGRATIONS = new URL("../drizzle", import.meta.url).pathname;
export const silent = createLogger({ service: "audit-test", level: "silent" });

/** A NATS client and a throwaway namespace with its streams; `drop()` deletes them. */
export async function testNamespace(label: string): Promise<{
  nats: NatsClient;
  namespace: string;
  drop(): Promise<void>;
}> {
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: `audit-test-${label}` });
  const namespace = `audit_${label}_${crypto.randomUUID().slice(0, 8)}`;
  await ensureStreams(await nats.manager(), namespace);
  return {
    nats,
    namespace,
    async drop() {
      await deleteNamespace(await nats.manager(), namespace);
      await nats.close();
    },
  };
}

/** Polls `read` until `done` holds, or fails after `ms` with what it last saw. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await read();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(last)}`);
    await Bun.sleep(50);
    last = await read();
  }
  return last;
}
