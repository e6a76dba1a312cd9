import type { NatsClient } from "@fig/events";
import { createDatasyncState, type DatasyncState, type FlipRecord, type VerifyRecord } from "./state.ts";

/** A route's data status as the gateway's `GET /_fig/data` shows it (the console's Data section). */
export type RouteDataView = {
  route: string;
  writeOwner: string;
  /** The running follower's last report: commit → applied over its recent window. */
  syncLag: {
    origin: string;
    at: string;
    changes: number;
    windowSeconds: number;
    p50Ms: number | null;
    p99Ms: number | null;
  } | null;
  lastVerify: {
    at: string;
    ok: boolean;
    owner: string;
    candidate: string;
    summary: string;
    tables: { table: string; ownerCount: number; candidateCount: number; equal: boolean }[];
    differences: { table: string; key: string; kind: string }[];
  } | null;
  /** In progress (or interrupted: `running` false and `done` < `total`), else the last finished one. */
  backfill: {
    running: boolean;
    table: string | null;
    done: number;
    total: number;
    rowsPerSecond: number | null;
    etaSeconds: number | null;
    at: string;
  } | null;
  lastFlip: FlipRecord | null;
};

function verifyView(v: VerifyRecord): NonNullable<RouteDataView["lastVerify"]> {
  const tables = v.tables.map((t) => ({
    table: t.table,
    ownerCount: t.owner.count,
    candidateCount: t.candidate.count,
    equal: t.equal,
  }));
  return {
    at: v.at,
    ok: v.ok,
    owner: v.owner,
    candidate: v.candidate,
    summary: tables
      .map((t) => `${t.table} ${t.ownerCount}${t.equal ? "" : ` ≠ ${t.candidateCount}`}`)
      .join(", "),
    tables,
    differences: v.tables.flatMap((t) => t.differences.map((d) => ({ table: t.table, ...d }))).slice(0, 10),
  };
}

/** A checkpoint older than this is an interrupted backfill, not a running one. */
const RUNNING_WITHIN_MS = 30_000;

/** Reads what migrate-data and the live sync keep in NATS KV for `route`; the write owner comes from the caller. */
export async function readRouteData(
  state: DatasyncState,
  route: string,
  writeOwner: string,
  now = Date.now(),
): Promise<RouteDataView> {
  const [data, lag, checkpoint] = await Promise.all([
    state.route(route),
    state.lag(route),
    state.checkpoint(route),
  ]);
  let backfill: RouteDataView["backfill"] = null;
  if (checkpoint && checkpoint.total !== undefined) {
    const done = checkpoint.done ?? 0;
    const rate = checkpoint.rowsPerSecond ?? null;
    backfill = {
      running: now - Date.parse(checkpoint.updatedAt) < RUNNING_WITHIN_MS,
      table: checkpoint.table,
      done,
      total: checkpoint.total,
      rowsPerSecond: rate,
      etaSeconds: rate ? Math.max(0, (checkpoint.total - done) / rate) : null,
      at: checkpoint.updatedAt,
    };
  } else if (data.lastBackfill) {
    const last = data.lastBackfill as { at?: string; rowsPerSecond?: number; tables?: { rows: number }[] };
    const rows = (last.tables ?? []).reduce((n, t) => n + t.rows, 0);
    backfill = {
      running: false,
      table: null,
      done: rows,
      total: rows,
      rowsPerSecond: last.rowsPerSecond ?? null,
      etaSeconds: 0,
      at: last.at ?? "",
    };
  }
  return {
    route,
    writeOwner,
    syncLag: lag
      ? {
          origin: lag.origin,
          at: lag.at,
          changes: lag.changes,
          windowSeconds: lag.windowSeconds,
          p50Ms: lag.p50Ms,
          p99Ms: lag.p99Ms,
        }
      : null,
    lastVerify: data.lastVerify ? verifyView(data.lastVerify) : null,
    backfill,
    lastFlip: data.flips.at(-1) ?? null,
  };
}

/**
 * The reader the gateway mounts: migrate-data's bucket of `namespace`, no database (the gateway has none).
 *
 * @example
 * const data = createRouteDataReader(nats, namespace);
 * await data.read("scheduling", "clinic-legacy");
 */
export function createRouteDataReader(nats: NatsClient, namespace: string) {
  const state = createDatasyncState(nats, namespace);
  return { read: (route: string, writeOwner: string) => readRouteData(state, route, writeOwner) };
}

export type RouteDataReader = ReturnType<typeof createRouteDataReader>;
