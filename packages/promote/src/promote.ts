import { acquireLock, startControl } from "./run/control.ts";
import { promoted, stopped } from "./run/finish.ts";
import { openRecord, resolveTarget } from "./run/open.ts";
import type { PromoteOptions, PromoteOutcome } from "./run/options.ts";
import { PromotionRun } from "./run/promotion-run.ts";
import { rollback } from "./run/rollback.ts";
import { shadowStep } from "./run/shadow-step.ts";
import { weightStep } from "./run/weight-step.ts";
import { newPromotionId } from "./store.ts";
import { stepWeights } from "./weights.ts";

export { decide } from "./decide.ts";
export type { LiveProgress, PromoteOptions, PromoteOutcome } from "./run/options.ts";
export { stepWeights };

/**
 * Runs a canary promotion of one route to a candidate upstream: [shadow] → for each step: record the intent,
 * set the weights (If-Match), run the gate pinned to the candidate while reading the gateway's metrics for
 * the candidate, decide (pass → next, fail → 100 % stable at once, inconclusive → hold until a deadline,
 * then fail). Every decision is recorded with its numbers in NATS KV; a lock in KV refuses a second
 * promotion of the route; a signal leaves the route recorded as paused with the weights it holds.
 * Each step kind has its own file under run/.
 *
 * @example
 * const outcome = await runPromotion({ route: "reference-data", candidate: "reference-data", steps: [10, 50, 100], … });
 */
export async function runPromotion(options: PromoteOptions): Promise<PromoteOutcome> {
  const target = await resolveTarget(options);
  const id = options.resume?.value.id ?? newPromotionId();
  const lock = await acquireLock(options, id); // LockHeldError: a live promotion of this route exists
  const run = new PromotionRun({ options, target, id, ...(await openRecord(options, target, id)) });
  const control = startControl(run, lock);
  try {
    const firstStep = options.resume ? Math.max(1, run.current.step) : 1;
    if (run.current.shadow && run.current.step < 1) {
      const { verdict, reason } = await shadowStep(run);
      if (verdict !== "pass") return await rollback(run, `step 0 (shadow): ${reason}`);
    }
    for (let step = firstStep; step <= run.current.steps.length; step++) {
      const { verdict, reason } = await weightStep(run, step);
      if (verdict === "fail")
        return await rollback(run, `step ${step} of ${run.current.steps.length}: ${reason}`);
    }
    return await promoted(run);
  } catch (error) {
    return await stopped(run, error);
  } finally {
    await control.stop();
  }
}
