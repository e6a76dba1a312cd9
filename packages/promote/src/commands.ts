import { DomainError } from "@fig/service";
import type { GatewayClient, GatewayRoute } from "./gateway-client.ts";
import type { PromotionEvent, PromotionRecord } from "./schema.ts";
import { isStale, type PromotionStore, RecordChangedError } from "./store.ts";
import { viewOf } from "./view.ts";
import { stepWeights } from "./weights.ts";

/**
 * What the commands need of the gateway: its routes and a weights change. The CLI passes its HTTP client;
 * the gateway's own admin API (`POST /_fig/promotions/{route}/…`) passes its route state directly.
 */
export type RouteControl = Pick<GatewayClient, "route" | "setWeights">;

const iso = () => new Date().toISOString();
const ev = (
  what: PromotionEvent["what"],
  actor: string,
  detail: string | null,
  weights?: Record<string, number>,
) => ({
  at: iso(),
  what,
  actor,
  detail,
  ...(weights ? { weights } : {}),
});

/** Rewrites the latest record of a route with `mutate`, retrying when the running process wrote first. */
async function updateLatest(store: PromotionStore, route: string, mutate: (r: PromotionRecord) => void) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const latest = await store.latest(route);
    if (!latest) return null;
    const next = structuredClone(latest.value);
    mutate(next);
    next.updatedAt = iso();
    try {
      await store.save(next, latest.revision);
      return next;
    } catch (error) {
      if (!(error instanceof RecordChangedError)) throw error;
    }
  }
  throw new Error(`could not update the promotion of ${route}: it kept changing`);
}

/**
 * `promote rollback <route>`: 100 % to the stable upstream at once (no If-Match: it must win), then the
 * record says rolled back and the running process (if any) stops at its next heartbeat. The route can be
 * promoted again with a plain new promote.
 */
export async function rollbackRoute({
  store,
  gateway,
  route,
  actor,
  reason,
}: {
  store: PromotionStore;
  gateway: RouteControl;
  route: string;
  actor: string;
  reason?: string | undefined;
}) {
  const live: GatewayRoute = await gateway.route(route);
  const latest = await store.latest(route);
  const order = live.upstreams.map((u) => u.name);
  const stable = latest?.value.stable ?? (order[0] as string);
  const candidate = latest?.value.candidate ?? order.find((n) => n !== stable) ?? stable;
  const weights = stepWeights(order, stable, candidate, 0);
  const why = reason ?? `rollback by ${actor}`;
  await gateway.setWeights(route, weights, `promote rollback: ${why}`);
  const record = await updateLatest(store, route, (r) => {
    if (r.state === "running" || r.state === "paused") {
      r.state = "rolled-back";
      r.finishedAt = iso();
      r.reason = why;
    }
    r.control = "abort";
    r.weights = weights;
    r.intent = null;
    r.events.push(ev("rollback", actor, why, weights));
  });
  // A dead process's lock is released here; a live one releases its own as it stops.
  const lock = await store.readLock(route);
  if (lock && (isStale(lock.value) || lock.value.promotionId !== record?.id))
    await store.release(route, lock.revision);
  return { weights, record };
}

/** `promote pause <route>`: the running process holds its weights after the current window. */
export async function pauseRoute({
  store,
  route,
  actor,
  reason,
}: {
  store: PromotionStore;
  route: string;
  actor: string;
  reason?: string | undefined;
}) {
  const record = await updateLatest(store, route, (r) => {
    if (r.state !== "running" && r.state !== "paused")
      throw new DomainError("unprocessable", `promotion ${r.id} is ${r.state}; nothing to pause`);
    r.control = "pause";
    r.events.push(
      ev("paused", actor, reason ? `paused by ${actor}: ${reason}` : `paused by ${actor}`, r.weights),
    );
  });
  if (!record) throw new DomainError("not_found", `no promotion of ${route} to pause`);
  return record;
}

/** Asks a live, paused process to go on; returns false when no live process holds the route (resume runs it). */
export async function resumeLive({
  store,
  route,
  actor,
  reason,
}: {
  store: PromotionStore;
  route: string;
  actor: string;
  reason?: string | undefined;
}) {
  const latest = await store.latest(route);
  if (!latest) throw new DomainError("not_found", `no promotion of ${route} to resume`);
  const lock = (await store.readLock(route))?.value ?? null;
  const view = viewOf(latest.value, lock);
  if (view.effectiveState !== "paused" && view.effectiveState !== "running")
    throw new DomainError(
      "unprocessable",
      `promotion ${view.id} is ${view.effectiveState}; start a new one with promote ${route} --to …`,
    );
  const alive = lock !== null && lock.promotionId === latest.value.id && !isStale(lock);
  if (!alive) return { live: false, stored: latest } as const;
  await updateLatest(store, route, (r) => {
    r.control = "run";
    r.events.push(ev("resumed", actor, reason ? `resumed by ${actor}: ${reason}` : `resumed by ${actor}`));
  });
  return { live: true, stored: latest } as const;
}
