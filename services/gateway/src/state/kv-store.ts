import type { Logger } from "@fig/service";
import { type KV, Kvm, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { RouteDefinition } from "../routes.ts";
import { applyChange, parseLive, seedOf } from "./live.ts";
import {
  type ChangeMeta,
  type LiveRoute,
  RevisionMismatchError,
  type RouteChange,
  type RouteStateStore,
  type StateHealth,
  StateUnavailableError,
  UnknownRouteError,
} from "./types.ts";

const KEY_PREFIX = "routes.";
const CONFLICT_RETRIES = 3;

export type KvRouteStoreOptions = {
  /** The NATS connection (lazily established, reconnecting; rejects while NATS is unreachable). */
  connection: () => Promise<NatsConnection>;
  /** KV bucket name, namespaced: `<FIG_NAMESPACE>_gateway_routes`. */
  bucket: string;
  routes: RouteDefinition[];
  logger: Pick<Logger, "info" | "warn" | "debug">;
  /** Pause between attempts to (re)open the bucket and its watch while NATS is down. */
  retryMs?: number;
};

/** The bucket name for a namespace (bucket names allow letters, digits, `-` and `_`). */
export const routesBucketName = (namespace: string) => `${namespace}_gateway_routes`;

const isWrongRevision = (error: unknown) => /wrong last sequence|key exists/i.test(String(error));

/**
 * Route state in a NATS KV bucket: one key per route (`routes.<id>`) holding its weights, state, write
 * owner and history, so a change and its history entry are one atomic update (optimistic on the KV
 * revision). Seeded create-if-absent from the route file; every replica watches the bucket and applies changes as
 * they arrive. While NATS is unreachable the last state seen keeps being served and `health()` says since
 * when it is stale; a replica that never reached NATS serves the route file's seed and reports `loaded: false`.
 * NATS server 2.9 has no per-message TTL; none is used.
 */
export function createKvRouteStore({
  connection,
  bucket,
  routes,
  logger,
  retryMs = 1000,
}: KvRouteStoreOptions): RouteStateStore {
  const ids = new Set(routes.map((r) => r.id));
  const live = new Map<string, LiveRoute>(routes.map((r) => [r.id, seedOf(r)]));
  let kv: KV | undefined;
  let loaded = false;
  let staleSince: string | null = null;
  let stopped = false;
  let stopWatch: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const markStale = (why: string, error?: unknown) => {
    if (staleSince === null) {
      staleSince = new Date().toISOString();
      logger.warn(
        { err: error, bucket, loaded },
        `route state stale: ${why}; serving the ${loaded ? "last state seen" : "route file's seed"}`,
      );
    }
  };
  const markFresh = () => {
    if (staleSince !== null) logger.info({ bucket, stale_since: staleSince }, "route state fresh again");
    staleSince = null;
  };

  function apply(key: string, value: unknown, revision: number, operation: string) {
    const id = key.slice(KEY_PREFIX.length);
    if (!ids.has(id) || operation !== "PUT") return;
    const next = parseLive(value, revision);
    const current = live.get(id);
    if (!next || next.id !== id || (current && current.revision >= revision)) return;
    live.set(id, next);
    if (loaded)
      logger.info({ route: id, revision, weights: next.weights, state: next.state }, "route state applied");
  }

  async function seed(bucketKv: KV) {
    for (const route of routes) {
      try {
        await bucketKv.create(KEY_PREFIX + route.id, JSON.stringify(seedOf(route)));
        logger.info({ route: route.id, bucket }, "route state seeded from the route file");
      } catch (error) {
        if (!isWrongRevision(error)) throw error; // exists already: never overwrite live state
      }
    }
  }

  async function watchOnce() {
    const nc = await connection();
    const bucketKv = await new Kvm(nc).create(bucket, { history: 1 });
    kv = bucketKv;
    await seed(bucketKv);
    const watch = await bucketKv.watch({ key: `${KEY_PREFIX}>` });
    // A reconnect may follow a server restart; re-reading the bucket is cheap and always right.
    // Typed AsyncIterable, but a QueuedIterator: stop() removes the listener when this watch ends.
    const statuses = nc.status() as AsyncIterable<{ type: string }> & { stop(): void };
    void (async () => {
      for await (const s of statuses) {
        if (s.type === "disconnect") markStale("NATS disconnected");
        if (s.type === "reconnect" || s.type === "disconnect") watch.stop();
      }
    })();
    stopWatch = () => watch.stop();
    // stop() came while this was connecting, seeding or opening the watch (a process stopped as it started).
    if (stopped) watch.stop();
    try {
      await consume(watch, new Set<string>());
    } finally {
      statuses.stop();
    }
  }

  async function consume(watch: AsyncIterable<KvWatchEntry>, seen: Set<string>) {
    for await (const entry of watch) {
      let value: unknown;
      try {
        value = entry.operation === "PUT" ? entry.json() : null;
      } catch {
        continue;
      }
      apply(entry.key, value, entry.revision, entry.operation);
      seen.add(entry.key.slice(KEY_PREFIX.length));
      if (!loaded && [...ids].every((id) => seen.has(id))) {
        loaded = true;
        logger.info({ bucket, routes: ids.size }, "route state loaded from NATS KV");
      }
      if (loaded && [...ids].every((id) => seen.has(id))) markFresh();
    }
  }

  async function run() {
    while (!stopped) {
      try {
        await watchOnce();
        if (!stopped) markStale("the KV watch ended");
      } catch (error) {
        if (!stopped) markStale(`NATS KV unavailable (${(error as Error).message})`, error);
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async function change(id: string, routeChange: RouteChange, meta: ChangeMeta): Promise<LiveRoute> {
    if (!ids.has(id)) throw new UnknownRouteError(`No route ${id}`);
    if (!kv || staleSince !== null) {
      throw new StateUnavailableError("Route state cannot be changed while NATS KV is unreachable");
    }
    for (let attempt = 0; ; attempt++) {
      const entry = await kv.get(KEY_PREFIX + id).catch((error) => {
        throw new StateUnavailableError(`NATS KV: ${(error as Error).message}`);
      });
      const current = entry ? parseLive(entry.json(), entry.revision) : null;
      if (!entry || !current) throw new UnknownRouteError(`No route ${id} in bucket ${bucket}`);
      if (meta.ifRevision !== undefined && meta.ifRevision !== current.revision)
        throw new RevisionMismatchError(current.revision);
      const next = applyChange(current, routeChange, meta);
      try {
        const revision = await kv.update(
          KEY_PREFIX + id,
          JSON.stringify({ ...next, revision: undefined }),
          current.revision,
        );
        const stored = { ...next, revision };
        apply(KEY_PREFIX + id, stored, revision, "PUT");
        return live.get(id) ?? stored;
      } catch (error) {
        // Someone else wrote between our read and write: re-read, unless the caller pinned a revision.
        if (isWrongRevision(error) && meta.ifRevision === undefined && attempt < CONFLICT_RETRIES) continue;
        if (isWrongRevision(error)) throw new RevisionMismatchError(current.revision + 1);
        throw new StateUnavailableError(`NATS KV: ${(error as Error).message}`);
      }
    }
  }

  return {
    get: (id) => live.get(id),
    list: () => [...live.values()],
    change,
    health: (): StateHealth => ({ source: "nats-kv", loaded, staleSince, bucket }),
    async start() {
      loop ??= run();
    },
    async stop() {
      stopped = true;
      stopWatch?.();
      wake?.();
      await loop;
    },
  };
}
