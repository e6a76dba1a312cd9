import { type Database, rowsOf } from "@fig/db";
import { type EventType, type NatsClient, streamNames } from "@fig/events";
import { sql } from "drizzle-orm";
import type { DataRoute } from "./data-routes.ts";
import type { BackfillCheckpoint, FlipRecord, VerifyRecord } from "./state.ts";

export type SyncLag = {
  window: string;
  changes: number;
  p50Seconds: number | null;
  p99Seconds: number | null;
};

/**
 * Commit → applied lag of the changes the candidate applied from `origin` in the last `minutes`: from the
 * per-key watermarks (event time = the owner's commit, applied_at = the apply's commit), p50 and p99.
 */
export async function recentLag(candidate: Database, origin: string, minutes = 15): Promise<SyncLag> {
  const [row] = rowsOf<{ n: number; p50: number | null; p99: number | null }>(
    await candidate.execute(sql`
      select count(*)::int as n,
        percentile_cont(0.5) within group (order by extract(epoch from applied_at - event_time)) as p50,
        percentile_cont(0.99) within group (order by extract(epoch from applied_at - event_time)) as p99
      from sync_keys where origin = ${origin} and applied_at > now() - make_interval(mins => ${minutes})`),
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    window: `${minutes} min`,
    changes: Number(row?.n ?? 0),
    p50Seconds: num(row?.p50),
    p99Seconds: num(row?.p99),
  };
}

/** Change events (`event`, the route's `fig.data.event`) the owner has committed but not yet published. */
export async function outboxPending(owner: Database, event: EventType = "data.changed"): Promise<number> {
  const [row] = rowsOf<{ n: number }>(
    await owner.execute(sql`select count(*)::int as n from outbox where sent_at is null and type = ${event}`),
  );
  return Number(row?.n ?? 0);
}

/** The follower's backlog in JetStream: published but not delivered, and delivered but not yet acked (applied). */
export async function followerBacklog(nats: NatsClient, namespace: string, consumer: string) {
  const jsm = await nats.manager();
  const info = await jsm.consumers.info(streamNames(namespace).events, consumer).catch(() => undefined);
  if (!info) return { exists: false, pending: 0, ackPending: 0, delivered: 0 };
  return {
    exists: true,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    delivered: info.delivered.stream_seq,
  };
}

export type RouteStatus = {
  route: string;
  owner: string;
  candidate: string;
  follower: string;
  outboxPending: number;
  backlog: Awaited<ReturnType<typeof followerBacklog>>;
  lag: SyncLag;
  lastVerify: VerifyRecord | null;
  lastFlip: FlipRecord | null;
  backfill: BackfillCheckpoint | null;
};

export function formatStatus(s: RouteStatus): string {
  const secs = (v: number | null) => (v === null ? "–" : `${(v * 1000).toFixed(0)} ms`);
  const v = s.lastVerify;
  const f = s.lastFlip;
  return [
    `route ${s.route}: write owner ${s.owner}; ${s.candidate} follows through ${s.follower}`,
    `  sync     outbox pending ${s.outboxPending}, stream pending ${s.backlog.pending}, unacked ${s.backlog.ackPending}` +
      (s.backlog.exists ? "" : " (consumer not created yet)"),
    `  lag      p50 ${secs(s.lag.p50Seconds)}, p99 ${secs(s.lag.p99Seconds)} over ${s.lag.changes} changes (last ${s.lag.window})`,
    `  verify   ${v ? `${v.ok ? "OK" : "MISMATCH"} at ${v.at} (${v.tables.map((t) => `${t.table} ${t.owner.count}${t.equal ? "" : "≠"}`).join(", ")})` : "never run"}`,
    `  flip     ${f ? `${f.outcome} ${f.from} → ${f.to} at ${f.at}: held ${f.heldMs} ms, ${f.heldWrites} writes held, total ${f.totalMs} ms${f.reason ? ` (${f.reason})` : ""}` : "never"}`,
    `  backfill ${s.backfill ? `interrupted in ${s.backfill.table} after ${s.backfill.after ?? "the start"} (${s.backfill.copied} rows); run it again to resume` : "no backfill in progress"}`,
  ].join("\n");
}

export type { DataRoute };
