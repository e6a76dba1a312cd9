import { hostname } from "node:os";
import type { Lock } from "../schema.ts";
import { RecordChangedError } from "../store.ts";
import type { PromoteOptions } from "./options.ts";
import { iso, type PromotionRun, Stop } from "./promotion-run.ts";

/** Takes the route's promotion lock; LockHeldError when a live promotion of the route holds it. */
export async function acquireLock({ store, route, actor, leaseMs = 15_000 }: PromoteOptions, id: string) {
  const lock: Lock = {
    promotionId: id,
    actor,
    host: hostname(),
    pid: process.pid,
    heartbeatAt: iso(),
    leaseMs,
  };
  return { lock, revision: await store.acquire(route, lock) };
}

/**
 * Listens to what stops or pauses the run from outside: the signal (→ interrupted), and a heartbeat that
 * renews the lock and picks up commands from other terminals (pause, resume, rollback). `stop` ends both
 * and releases the lock.
 */
export function startControl(run: PromotionRun, held: { lock: Lock; revision: number }) {
  const { store, route, signal } = run.options;
  let lockRevision = held.revision;
  const onSignal = () => run.halt(new Stop("interrupted", "interrupted (signal)"));
  signal?.addEventListener("abort", onSignal, { once: true });
  if (signal?.aborted) onSignal();
  const heartbeat = setInterval(
    async () => {
      try {
        lockRevision = await store.renew(route, { ...held.lock, heartbeatAt: iso() }, lockRevision);
      } catch (error) {
        if (error instanceof RecordChangedError)
          run.halt(new Stop("superseded", "the promotion lock was taken over"));
        return;
      }
      await pickUpCommand(run);
    },
    Math.max(100, Math.floor(held.lock.leaseMs / 4)),
  );
  return {
    async stop() {
      clearInterval(heartbeat);
      signal?.removeEventListener("abort", onSignal);
      await store.release(route, lockRevision);
    },
  };
}

/** A newer record than ours was written by another terminal: follow its control. */
async function pickUpCommand(run: PromotionRun) {
  const fresh = await run.options.store.load(run.route, run.id).catch(() => null);
  if (!fresh || fresh.revision <= run.revision) return;
  run.current = fresh.value;
  run.revision = fresh.revision;
  const { current } = run;
  if (current.state === "rolled-back" || current.control === "abort")
    run.halt(new Stop("aborted", current.reason ?? "rolled back from another terminal"));
  else if (current.control === "pause" && !run.paused) {
    run.paused = true;
    run.windowStop?.abort();
  } else if (current.control === "run" && run.paused) run.pauseWake?.();
}

/** Holds while paused from another terminal; returns once resumed. */
export async function waitWhilePaused(run: PromotionRun, step: number) {
  if (!run.paused) return;
  await run.commit((r) => {
    r.state = "paused";
  });
  run.log(
    `paused at step ${step} of ${run.current.steps.length}, holding ${JSON.stringify(run.current.weights)}; waiting for resume`,
  );
  run.progress({ step, phase: "paused", stepElapsedMs: 0, p95: null, errorRate: null, requests: 0 });
  while (run.paused && !run.stopReason) {
    await new Promise<void>((resolve) => {
      run.pauseWake = resolve;
      setTimeout(resolve, 1000);
    });
    if (run.current.control === "run") run.paused = false;
  }
  run.checkStop();
  await run.commit((r) => {
    r.state = "running";
  });
  run.log("resumed");
}
