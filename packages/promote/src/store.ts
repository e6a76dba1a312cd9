import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Lock, LockSchema, type PromotionRecord, PromotionRecordSchema } from "./schema.ts";

/** The promotions bucket of a namespace: `<FIG_NAMESPACE>_promotions` (apart from the gateway's routes). */
export const promotionsBucketName = (namespace: string) => `${namespace}_promotions`;

const recordKey = (route: string, id: string) => `promotions.${route}.${id}`;
const lockKey = (route: string) => `locks.${route}`;

const isWrongRevision = (error: unknown) => /wrong last sequence|key exists/i.test(String(error));

/** Another live process holds the route's promotion lock. */
export class LockHeldError extends Error {
  constructor(readonly lock: Lock) {
    super(
      `route is being promoted by ${lock.actor} (pid ${lock.pid} on ${lock.host}, promotion ${lock.promotionId}, heartbeat ${lock.heartbeatAt})`,
    );
  }
}

/** Someone else wrote the record since it was read (a rollback or pause from another terminal). */
export class RecordChangedError extends Error {}

export type Stored<T> = { value: T; revision: number };

/** A lock whose holder has not renewed it within its lease is a dead process's. NATS 2.9 has no TTL. */
export const isStale = (lock: Lock, now = Date.now()) => now - Date.parse(lock.heartbeatAt) > lock.leaseMs;

/** Time-sortable promotion id: base-36 epoch ms, then a random suffix. */
export const newPromotionId = (now = Date.now()) =>
  `${now.toString(36).padStart(9, "0")}-${crypto.randomUUID().slice(0, 4)}`;

export type PromotionStore = ReturnType<typeof createPromotionStore>;

/**
 * Promotion records and locks in NATS KV. A record (`promotions.<route>.<id>`) is rewritten with optimistic
 * concurrency on its revision at every change, so commands from other terminals (pause, rollback) and the
 * running process never overwrite each other. The lock (`locks.<route>`) is created if absent, renewed by
 * heartbeat, and taken over only when stale, again on its revision, so two takeovers cannot both win.
 *
 * @example
 * const store = createPromotionStore({ connection: () => nats.connection(), bucket: promotionsBucketName("fig") });
 * const latest = await store.latest("reference-data");
 */
export function createPromotionStore({
  connection,
  bucket,
}: {
  connection: () => Promise<NatsConnection>;
  bucket: string;
}) {
  let kv: Promise<KV> | undefined;
  const open = () => {
    kv ??= connection()
      .then((nc) => new Kvm(nc).create(bucket, { history: 5 }))
      .catch((error) => {
        kv = undefined;
        throw error;
      });
    return kv;
  };

  async function readRecord(key: string): Promise<Stored<PromotionRecord> | null> {
    const entry = await (await open()).get(key);
    if (entry?.operation !== "PUT") return null;
    const parsed = PromotionRecordSchema.safeParse(entry.json());
    return parsed.success ? { value: parsed.data, revision: entry.revision } : null;
  }

  /** Writes a record: created when `revision` is undefined, else only if still at `revision`. */
  async function save(record: PromotionRecord, revision?: number): Promise<number> {
    const bucketKv = await open();
    const key = recordKey(record.route, record.id);
    const data = JSON.stringify(record);
    try {
      return revision === undefined
        ? await bucketKv.create(key, data)
        : await bucketKv.update(key, data, revision);
    } catch (error) {
      if (isWrongRevision(error)) throw new RecordChangedError(`promotion ${record.id} changed meanwhile`);
      throw error;
    }
  }

  async function ids(route?: string): Promise<{ route: string; id: string }[]> {
    const keys = await (await open()).keys(route ? `promotions.${route}.*` : "promotions.>");
    // A key rewritten while the listing runs (a running promotion) comes again: keep each once.
    const seen = new Map<string, { route: string; id: string }>();
    for await (const key of keys) {
      const [, r, id] = key.split(".");
      if (r && id) seen.set(key, { route: r, id });
    }
    return [...seen.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async function latest(route: string): Promise<Stored<PromotionRecord> | null> {
    const all = await ids(route);
    for (let i = all.length - 1; i >= 0; i--) {
      const found = await readRecord(recordKey(route, (all[i] as { id: string }).id));
      if (found) return found;
    }
    return null;
  }

  /** Every promotion of a route (oldest first), or the latest of every route when none is given. */
  async function list(route?: string): Promise<PromotionRecord[]> {
    const all = await ids(route);
    const wanted = route ? all : [...new Map(all.map((k) => [k.route, k])).values()];
    const out: PromotionRecord[] = [];
    for (const { route: r, id } of wanted) {
      const found = await readRecord(recordKey(r, id));
      if (found) out.push(found.value);
    }
    return out;
  }

  async function readLock(route: string): Promise<Stored<Lock> | null> {
    const entry = await (await open()).get(lockKey(route));
    if (entry?.operation !== "PUT") return null;
    const parsed = LockSchema.safeParse(entry.json());
    return parsed.success ? { value: parsed.data, revision: entry.revision } : null;
  }

  /**
   * Takes the route's lock: created if absent, or taken over from a stale holder on its revision.
   * Throws LockHeldError when a live process holds it. Returns the lock's revision (for renew/release).
   */
  async function acquire(route: string, lock: Lock): Promise<number> {
    const bucketKv = await open();
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await bucketKv.create(lockKey(route), JSON.stringify(lock));
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
      const held = await readLock(route);
      if (!held) continue; // released meanwhile: create again
      if (!isStale(held.value)) throw new LockHeldError(held.value);
      try {
        return await bucketKv.update(lockKey(route), JSON.stringify(lock), held.revision);
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
    const held = await readLock(route);
    if (held) throw new LockHeldError(held.value);
    throw new Error(`could not take the promotion lock of ${route}`);
  }

  /** Renews the lock; throws RecordChangedError when it is no longer ours. */
  async function renew(route: string, lock: Lock, revision: number): Promise<number> {
    try {
      return await (await open()).update(lockKey(route), JSON.stringify(lock), revision);
    } catch (error) {
      if (isWrongRevision(error))
        throw new RecordChangedError(`the promotion lock of ${route} was taken over`);
      throw error;
    }
  }

  async function release(route: string, revision: number): Promise<void> {
    await (await open()).delete(lockKey(route), { previousSeq: revision }).catch(() => {});
  }

  const load = (route: string, id: string) => readRecord(recordKey(route, id));
  return { bucket, save, latest, list, load, readLock, acquire, renew, release, ids };
}
