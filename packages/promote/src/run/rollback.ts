import { stepWeights } from "../weights.ts";
import type { PromoteOutcome } from "./options.ts";
import { iso, type PromotionRun } from "./promotion-run.ts";

/** Back to 100 % stable at once, recorded with the reason. */
export async function rollback(run: PromotionRun, reason: string): Promise<PromoteOutcome> {
  const { stable, order } = run.target;
  const weights = stepWeights(order, stable, run.candidate, 0);
  await run.commit((r) => {
    r.intent = { weights, at: iso() };
  });
  // No If-Match: going back to stable must win over anything.
  run.routeRevision = await run.options.gateway.setWeights(
    run.route,
    weights,
    `promotion ${run.id} rolled back: ${reason}`,
  );
  const record = await run.commit((r) => {
    r.state = "rolled-back";
    r.control = "abort";
    r.weights = weights;
    r.intent = null;
    r.reason = reason;
    r.finishedAt = iso();
    r.events.push(run.event("rollback", reason, weights));
  });
  run.log(`rolled back to 100 % ${stable}: ${reason}`);
  await run.recordEnd(record);
  return { state: "rolled-back", record, reason };
}
