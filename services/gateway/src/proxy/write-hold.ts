import { AppError } from "@fig/service";
import type { RouteStateStore } from "../state/types.ts";

/** Seconds a client is told to wait after a hold outlived its deadline (the flip is then seconds from done). */
export const HOLD_RETRY_AFTER_S = 1;

export type WriteHoldStats = { held: number; released: number; rejected: number; longestHeldMs: number };

/**
 * The proxy's side of a write hold (the route's `writeHold` in live state): a write that arrives while the
 * route is held waits here, unforwarded, until the hold is cleared (it then goes to the write owner of that
 * moment) or its deadline passes (503 + Retry-After: the write was never sent, so it was not applied).
 * Also counts each route's writes in flight, so the admin API can answer once those already forwarded are done.
 * Web-standard only: the hold is watched by polling the local copy of the state (cheap, and only while held).
 */
export function createWriteHolds(store: RouteStateStore, { pollMs = 5 }: { pollMs?: number } = {}) {
  const inFlight = new Map<string, number>();
  const stats = new Map<string, WriteHoldStats>();
  const statsOf = (route: string) => {
    let s = stats.get(route);
    if (!s) {
      s = { held: 0, released: 0, rejected: 0, longestHeldMs: 0 };
      stats.set(route, s);
    }
    return s;
  };
  const reject = (route: string, s: WriteHoldStats) => {
    s.rejected++;
    return new AppError(
      "not_ready",
      `Writes to route ${route} are held while its write owner moves; retry shortly`,
      {
        headers: { "retry-after": String(HOLD_RETRY_AFTER_S) },
        extensions: { route },
      },
    );
  };

  return {
    /**
     * Resolves when the route's writes may be forwarded; throws 503 once the hold's deadline passed. The caller
     * must call `begin` right after (no await in between), so a hold set later sees this write in flight.
     */
    async pass(route: string, signal?: AbortSignal): Promise<void> {
      let hold = store.get(route)?.writeHold;
      if (!hold) return;
      const s = statsOf(route);
      const started = Date.now();
      s.held++;
      for (;;) {
        hold = store.get(route)?.writeHold;
        if (!hold) break;
        if (Date.now() >= Date.parse(hold.until)) throw reject(route, s);
        if (signal?.aborted) throw signal.reason;
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
      s.released++;
      s.longestHeldMs = Math.max(s.longestHeldMs, Date.now() - started);
    },
    begin(route: string) {
      inFlight.set(route, (inFlight.get(route) ?? 0) + 1);
    },
    end(route: string) {
      inFlight.set(route, (inFlight.get(route) ?? 1) - 1);
    },
    inFlight: (route: string) => inFlight.get(route) ?? 0,
    stats: (route: string): WriteHoldStats => ({ ...statsOf(route) }),
  };
}

export type WriteHolds = ReturnType<typeof createWriteHolds>;
