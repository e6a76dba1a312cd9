import type { NatsClient } from "@fig/events";
import { type KV, Kvm } from "@nats-io/kv";
import type { TableChecksum } from "./checksum.ts";
import { gatewayRoutesBucket, writeOwnerOf } from "./owner-watch.ts";

/** Where `migrate-data` keeps what it did, per route, in NATS KV (shared by every operator machine). */
export const datasyncBucket = (namespace: string) => `${namespace}_datasync`;

export type BackfillCheckpoint = {
  owner: string;
  candidate: string;
  /** The table being copied and the last key committed on the candidate (keyset pagination). */
  table: string;
  after: string | null;
  copied: number;
  startedAt: string;
  updatedAt: string;
  /** Progress over every table of the route (for the console's bar): rows done and the owner's total. */
  done?: number;
  total?: number;
  rowsPerSecond?: number;
};

/** The live sync's commit → applied lag over its recent changes, as the running follower last reported it. */
export type LagReport = {
  origin: string;
  consumer: string;
  at: string;
  changes: number;
  windowSeconds: number;
  p50Ms: number | null;
  p99Ms: number | null;
};

export type TableComparison = {
  table: string;
  owner: TableChecksum;
  candidate: TableChecksum;
  equal: boolean;
  differences: { key: string; kind: string }[];
};

export type VerifyRecord = {
  at: string;
  owner: string;
  candidate: string;
  ok: boolean;
  tables: TableComparison[];
};

export type FlipRecord = {
  at: string;
  from: string;
  to: string;
  outcome: "flipped" | "refused";
  reason: string | null;
  heldMs: number;
  heldWrites: number;
  drainMs: number;
  verifyMs: number;
  totalMs: number;
  tables: { table: string; count: number; equal: boolean }[];
};

export type RouteDataState = {
  lastVerify?: VerifyRecord;
  flips: FlipRecord[];
  lastBackfill?: Record<string, unknown>;
};

export function createDatasyncState(nats: NatsClient, namespace: string) {
  let kv: Promise<KV> | undefined;
  const bucket = () => {
    // A failure (NATS down) is not kept: the next call tries again (the sync's lag reports outlive outages).
    kv ??= nats
      .connection()
      .then((nc) => new Kvm(nc).create(datasyncBucket(namespace), { history: 1 }))
      .catch((error) => {
        kv = undefined;
        throw error;
      });
    return kv;
  };
  async function read<T>(key: string): Promise<T | undefined> {
    const entry = await (await bucket()).get(key);
    return entry && entry.operation === "PUT" && entry.length > 0 ? (entry.json() as T) : undefined;
  }
  async function write(key: string, value: unknown) {
    await (await bucket()).put(key, JSON.stringify(value));
  }
  return {
    checkpoint: (route: string) => read<BackfillCheckpoint>(`backfill.${route}`),
    saveCheckpoint: (route: string, c: BackfillCheckpoint) => write(`backfill.${route}`, c),
    clearCheckpoint: async (route: string) => {
      await (await bucket()).delete(`backfill.${route}`);
    },
    lag: (route: string) => read<LagReport>(`lag.${route}`),
    saveLag: (route: string, report: LagReport) => write(`lag.${route}`, report),
    async route(route: string): Promise<RouteDataState> {
      return (await read<RouteDataState>(`route.${route}`)) ?? { flips: [] };
    },
    async update(route: string, change: (s: RouteDataState) => RouteDataState) {
      await write(`route.${route}`, change(await this.route(route)));
    },
    /** The route's write owner as the gateway's KV says; `defaultOwner` (DataRoute.seedOwner) before the gateway seeds it. */
    async writeOwner(route: string, defaultOwner: string): Promise<string> {
      const nc = await nats.connection();
      const routes = await new Kvm(nc).create(gatewayRoutesBucket(namespace), { history: 1 });
      const entry = await routes.get(`routes.${route}`);
      return (entry?.operation === "PUT" ? writeOwnerOf(entry.json()) : undefined) ?? defaultOwner;
    },
  };
}

export type DatasyncState = ReturnType<typeof createDatasyncState>;

/** Removes migrate-data's and the gateway's KV buckets of a namespace (tests clean up after themselves). */
export async function destroyNamespaceState(nats: NatsClient, namespace: string) {
  const kvm = new Kvm(await nats.connection());
  for (const bucket of [datasyncBucket(namespace), gatewayRoutesBucket(namespace)])
    await kvm
      .open(bucket)
      .then((kv) => kv.destroy())
      .catch(() => {});
}
