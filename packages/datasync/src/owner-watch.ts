import type { NatsClient } from "@fig/events";
import { Kvm } from "@nats-io/kv";
import type { Logger } from "pino";

/**
 * The gateway's route-state bucket (services/gateway/src/state/kv-store.ts names it the same way; the gateway
 * is not a library, so the name is repeated here rather than imported from a service).
 */
export const gatewayRoutesBucket = (namespace: string) => `${namespace}_gateway_routes`;

/** The route's write owner as the gateway's KV says; `undefined` when the route has no entry (no gateway yet). */
export function writeOwnerOf(value: unknown): string | undefined {
  const owner = (value as { writeOwner?: unknown } | null)?.writeOwner;
  return typeof owner === "string" ? owner : undefined;
}

export type WriteOwnerWatchOptions = {
  nats: NatsClient;
  namespace: string;
  route: string;
  /** The owner while the route has no KV entry: the gateway seeds each route with its first backendRef. */
  defaultOwner: string;
  onOwner(owner: string): Promise<void> | void;
  logger: Pick<Logger, "info" | "warn">;
  retryMs?: number;
};

/**
 * Follows one route's `writeOwner` in the gateway's KV bucket and calls `onOwner` on every change (and once
 * with the current owner). While NATS is unreachable the last owner stays in force (the sync cannot run then
 * anyway); it retries until stopped.
 */
export function watchWriteOwner({
  nats,
  namespace,
  route,
  defaultOwner,
  onOwner,
  logger,
  retryMs = 1000,
}: WriteOwnerWatchOptions) {
  let stopped = false;
  let current: string | undefined;
  let stopWatch: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let chain = Promise.resolve();

  const announce = (owner: string) => {
    if (owner === current) return;
    current = owner;
    logger.info({ route, writeOwner: owner }, "sync: write owner");
    chain = chain
      .then(() => onOwner(owner))
      .catch((error) => logger.warn({ err: error, route }, "sync: owner change failed"));
  };

  async function once() {
    const nc = await nats.connection();
    const kv = await new Kvm(nc).create(gatewayRoutesBucket(namespace), { history: 1 });
    const key = `routes.${route}`;
    const entry = await kv.get(key);
    announce((entry?.operation === "PUT" ? writeOwnerOf(entry.json()) : undefined) ?? defaultOwner);
    const watch = await kv.watch({ key, include: "updates" as never });
    stopWatch = () => watch.stop();
    const statuses = nc.status() as AsyncIterable<{ type: string }> & { stop(): void };
    void (async () => {
      for await (const s of statuses) if (s.type === "reconnect") watch.stop();
    })();
    try {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        try {
          announce(writeOwnerOf(e.json()) ?? defaultOwner);
        } catch {
          // not JSON: not the gateway's value; ignore
        }
      }
    } finally {
      statuses.stop();
    }
  }

  async function run() {
    while (!stopped) {
      try {
        await once();
      } catch (error) {
        if (!stopped) logger.warn({ err: error, route }, "sync: cannot read the write owner; retrying");
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

  return {
    current: () => current,
    start() {
      stopped = false;
      loop ??= run();
    },
    async stop() {
      stopped = true;
      stopWatch?.();
      wake?.();
      await loop;
      await chain;
    },
  };
}
