import type { PromoteOutcome } from "./options.ts";
import { iso, type PromotionRun, Stop } from "./promotion-run.ts";
import { rollback } from "./rollback.ts";

/** Every step passed: the candidate holds 100 %. */
export async function promoted(run: PromotionRun): Promise<PromoteOutcome> {
  const { route, candidate } = run;
  const record = await run.commit((r) => {
    r.state = "promoted";
    r.finishedAt = iso();
    r.reason = `every step passed; candidate ${candidate} holds 100 % of route ${route}`;
    r.events.push(run.event("promoted", null, r.weights));
  });
  run.log(`promoted: candidate ${candidate} holds 100 % of route ${route}`);
  await run.recordEnd(record);
  return { state: "promoted", record, reason: record.reason };
}

/**
 * The run ended without a verdict: a signal pauses it holding its weights; a rollback or takeover elsewhere
 * is reported as recorded; anything unexpected rolls back, and if even that fails the record says paused and why.
 */
export async function stopped(run: PromotionRun, error: unknown): Promise<PromoteOutcome> {
  if (error instanceof Stop && error.kind === "interrupted") {
    const record = await run.commit((r) => {
      r.state = "paused";
      r.control = "pause";
      r.reason = `interrupted: holding ${JSON.stringify(r.intent?.weights ?? r.weights)}`;
      r.events.push(run.event("interrupted", "SIGINT/SIGTERM", r.weights));
    });
    run.log(
      `interrupted: ${run.route} paused at step ${record.step}, holding ${JSON.stringify(record.weights)}`,
    );
    return { state: "paused", record, reason: record.reason };
  }
  if (error instanceof Stop) {
    const fresh = await run.options.store.load(run.route, run.id);
    const record = fresh?.value ?? run.current;
    return { state: record.state, record, reason: error.message };
  }
  const message = (error as Error).message;
  try {
    return await rollback(run, `error: ${message}`);
  } catch (rollbackError) {
    const record = await run
      .commit((r) => {
        r.state = "paused";
        r.reason = `error: ${message}; rollback failed too: ${(rollbackError as Error).message}`;
      })
      .catch(() => run.current);
    return { state: "paused", record, reason: record.reason };
  }
}
