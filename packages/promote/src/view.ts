import type { Lock, PromotionRecord, PromotionView } from "./schema.ts";
import { isStale, type PromotionStore } from "./store.ts";

/**
 * The promotion as it is, not only as its record says: a record still `running` whose lock is gone, stale,
 * or someone else's was left by a process that died (kill -9, a crash); it is shown `paused`, holding the
 * weights it recorded (its `intent`, when it died between recording and applying a change).
 *
 * @example
 * viewOf(record, lock).effectiveState; // "paused" after the promote process was killed
 */
export function viewOf(record: PromotionRecord, lock: Lock | null, now = Date.now()): PromotionView {
  const ours = lock !== null && lock.promotionId === record.id;
  const alive = ours && !isStale(lock, now);
  const interrupted = record.state === "running" && !alive;
  return {
    ...record,
    effectiveState: interrupted ? "paused" : record.state,
    interrupted,
    lock: lock
      ? {
          holder: `${lock.actor} (pid ${lock.pid} on ${lock.host})`,
          heartbeatAt: lock.heartbeatAt,
          stale: isStale(lock, now),
        }
      : null,
  };
}

/**
 * Which name is the route and which the candidate: they are often the same word ("validation"), so a bare
 * "validation → validation" says nothing.
 *
 * @example
 * promotionHeadline(record); // "route validation: monolith → candidate validation"
 */
export function promotionHeadline(record: Pick<PromotionRecord, "route" | "stable" | "candidate">): string {
  return `route ${record.route}: ${record.stable} → candidate ${record.candidate}`;
}

/** Every promotion of a route (oldest first), or the latest of every route, each as it is (see viewOf). */
export async function promotionViews(store: PromotionStore, route?: string): Promise<PromotionView[]> {
  const records = await store.list(route);
  const locks = new Map<string, Lock | null>();
  const out: PromotionView[] = [];
  for (const record of records) {
    if (!locks.has(record.route))
      locks.set(record.route, (await store.readLock(record.route))?.value ?? null);
    out.push(viewOf(record, locks.get(record.route) ?? null));
  }
  return out;
}
