import type { Database } from "@fig/db";
import { type EventType, type NatsClient, streamNames, subjectOf } from "@fig/events";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type { DeclaredTable } from "./declared-table.ts";
import { flipPrerequisites } from "./preflight.ts";
import type { DatasyncState, FlipRecord, VerifyRecord } from "./state.ts";
import { followerBacklog, outboxPending } from "./status.ts";
import { verifySides } from "./verify.ts";

const MS_NS = 1_000_000;

/** The gateway's admin API, as the flip uses it. */
export function gatewayAdmin(url: string, token: string) {
  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${url}/_fig${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`gateway ${method} /_fig${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  }
  type HoldView = {
    drained: boolean;
    inFlight: number;
    stats: { held: number; rejected: number; longestHeldMs: number };
  };
  return {
    async writeOwner(route: string): Promise<string> {
      const { routes } = (await call("GET", "/routes")) as { routes: { id: string; writeOwner: string }[] };
      const found = routes.find((r) => r.id === route);
      if (!found) throw new Error(`the gateway has no route ${route}`);
      return found.writeOwner;
    },
    hold: (route: string, holdMs: number, reason: string) =>
      call("PUT", `/routes/${route}/write-hold`, { holdMs, reason }) as Promise<HoldView>,
    release: (route: string, reason: string) =>
      call("DELETE", `/routes/${route}/write-hold`, { reason }) as Promise<HoldView>,
    setWriteOwner: (route: string, writeOwner: string, reason: string) =>
      call("PUT", `/routes/${route}/write-owner`, { writeOwner, reason }),
  };
}

export type GatewayAdmin = ReturnType<typeof gatewayAdmin>;

export type FlipOptions = {
  route: string;
  owner: { name: string; db: Database };
  candidate: { name: string; db: Database };
  tables: readonly DeclaredTable[];
  /** Durable consumer that follows each upstream (the other side runs it). */
  followers: Record<string, string>;
  /** The change event both sides publish (the route's `fig.data.event`). */
  event?: EventType;
  gateway: GatewayAdmin;
  nats: NatsClient;
  namespace: string;
  state: DatasyncState;
  holdMs: number;
  /** How long the drain may take before the flip gives up (writes are released to the old owner). */
  drainTimeoutMs?: number;
  log?: (line: string) => void;
};

export type FlipResult = FlipRecord & { verify: VerifyRecord };

/** Waits until the owner's outbox is published and the follower has applied (acked) every event. */
async function drain(o: FlipOptions, deadline: number) {
  const follower = o.followers[o.owner.name] as string;
  for (;;) {
    const pending = await outboxPending(o.owner.db, o.event);
    const backlog = await followerBacklog(o.nats, o.namespace, follower);
    if (pending === 0 && backlog.exists && backlog.pending === 0 && backlog.ackPending === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `the sync did not drain in time (outbox ${pending}, stream pending ${backlog.pending}, unacked ${backlog.ackPending}${backlog.exists ? "" : `, consumer ${follower} missing`})`,
      );
    await Bun.sleep(10);
  }
}

/**
 * The new owner's follower starts at the stream's end: everything before is already on both sides (verified),
 * so it must not replay the candidate's history (its republished copies of the old owner's changes).
 */
async function prepareReverseFollower(o: FlipOptions) {
  const name = o.followers[o.candidate.name] as string;
  const jsm = await o.nats.manager();
  const stream = streamNames(o.namespace).events;
  const exists = await jsm.consumers.info(stream, name).then(
    () => true,
    () => false,
  );
  if (exists) return;
  await jsm.consumers.add(stream, {
    durable_name: name,
    filter_subject: subjectOf(o.namespace, o.event ?? "data.changed", o.candidate.name),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: 30_000 * MS_NS,
    max_deliver: 1000,
  });
}

const summary = (v: VerifyRecord) =>
  v.tables.map((t) => `${t.table} ${t.owner.count}${t.equal ? "" : " MISMATCH"}`).join(", ");

/**
 * Moves a route's write ownership: hold new writes at the gateway → wait for the old owner's outbox and the
 * sync to drain → verify → switch `writeOwner` → release the held writes (to the new owner). The reverse sync
 * starts by itself (each side follows the owner in KV). A failed verify (or drain) changes nothing: the writes
 * are released to the old owner. Every attempt is recorded, with its figures, in the route's history (the
 * hold/release/owner entries' `why`) and in migrate-data's state. A side without what the flip needs (the
 * owner's outbox, the follower, the new side's sync_keys) is refused with an error before any write is held.
 */
export async function flipWriteOwner(o: FlipOptions): Promise<FlipResult> {
  const log = o.log ?? (() => {});
  const missing = await flipPrerequisites(o);
  if (missing.length > 0)
    throw new Error(`cannot flip ${o.route}'s writes, nothing was held:\n  - ${missing.join("\n  - ")}`);
  const started = performance.now();
  const from = o.owner.name;
  const to = o.candidate.name;
  const hold = await o.gateway.hold(o.route, o.holdMs, `migrate-data flip ${o.route}: ${from} → ${to}`);
  const heldAt = performance.now();
  const heldBefore = hold.stats.held;
  log(`writes held (${o.holdMs} ms at most); writes in flight before the hold: answered`);
  let verify: VerifyRecord | undefined;
  let reason: string | null = null;
  let drainMs = 0;
  let verifyMs = 0;
  try {
    await drain(o, Date.now() + (o.drainTimeoutMs ?? 10_000));
    drainMs = performance.now() - heldAt;
    log(`sync drained in ${drainMs.toFixed(0)} ms`);
    const verifyStart = performance.now();
    verify = await verifySides({ owner: o.owner, candidate: o.candidate, tables: o.tables });
    verifyMs = performance.now() - verifyStart;
    await o.state.update(o.route, (s) => ({ ...s, lastVerify: verify }));
    if (!verify.ok) reason = `verify failed: ${summary(verify)}`;
  } catch (error) {
    reason = (error as Error).message;
  }
  const figures = () =>
    `held ${(performance.now() - heldAt).toFixed(0)} ms (drain ${drainMs.toFixed(0)} ms, verify ${verifyMs.toFixed(0)} ms)` +
    (verify ? `; verify ${verify.ok ? "OK" : "MISMATCH"}: ${summary(verify)}` : "");
  if (reason === null && verify) {
    try {
      await prepareReverseFollower(o);
      await o.gateway.setWriteOwner(o.route, to, `migrate-data flip: ${from} → ${to}; ${figures()}`);
    } catch (error) {
      reason = `could not switch the write owner: ${(error as Error).message}`;
    }
  }
  const outcome: FlipRecord["outcome"] = reason === null ? "flipped" : "refused";
  const releaseWhy =
    outcome === "flipped"
      ? `migrate-data flip done: writes released to ${to}; ${figures()}`
      : `migrate-data flip refused (${reason}): writes released to ${from}; ${figures()}`;
  const released = await o.gateway.release(o.route, releaseWhy);
  const heldMs = Math.round(performance.now() - heldAt);
  const record: FlipResult = {
    at: new Date().toISOString(),
    from,
    to,
    outcome,
    reason,
    heldMs,
    heldWrites: released.stats.held - heldBefore,
    drainMs: Math.round(drainMs),
    verifyMs: Math.round(verifyMs),
    totalMs: Math.round(performance.now() - started),
    tables: (verify?.tables ?? []).map((t) => ({ table: t.table, count: t.owner.count, equal: t.equal })),
    verify: verify ?? { at: new Date().toISOString(), owner: from, candidate: to, ok: false, tables: [] },
  };
  const { verify: _v, ...stored } = record;
  await o.state.update(o.route, (s) => ({ ...s, flips: [...s.flips, stored].slice(-50) }));
  return record;
}
