import { gatewayMeasurement } from "../budgets.ts";
import { readCounters, readCountersAfter, stepWindow } from "../counters.ts";
import { decide } from "../decide.ts";
import { RouteChangedError } from "../gateway-client.ts";
import type { Verdict, Weights } from "../schema.ts";
import { stepWeights } from "../weights.ts";
import { waitWhilePaused } from "./control.ts";
import { gateMeasurement, runGateWindow } from "./gate-window.ts";
import { iso, type PromotionRun, Stop } from "./promotion-run.ts";

/** Step `step` (1-based): give the candidate its share, then measure until the step is decided. */
export async function weightStep(
  run: PromotionRun,
  step: number,
): Promise<{ verdict: Verdict; reason: string }> {
  const { candidate, id } = run;
  const percent = run.current.steps[step - 1] as number;
  await run.commit((r) => {
    r.step = step;
  });
  await waitWhilePaused(run, step);
  await setWeights(
    run,
    stepWeights(run.target.order, run.target.stable, candidate, percent),
    `promotion ${id}: step ${step} of ${run.current.steps.length} (${percent} % ${candidate})`,
  );
  return await measureStep(run, step);
}

/** Records the intent, sets the weights if the route is still as we left it (If-Match), records them as held. */
async function setWeights(run: PromotionRun, weights: Weights, why: string) {
  const { route, id } = run;
  run.checkStop();
  await run.commit((r) => {
    r.intent = { weights, at: iso() };
  });
  try {
    run.routeRevision = await run.options.gateway.setWeights(route, weights, why, run.routeRevision);
  } catch (error) {
    if (error instanceof RouteChangedError) {
      const fresh = await run.options.store.load(route, id);
      if (fresh?.value.state === "rolled-back")
        throw new Stop("aborted", fresh.value.reason ?? "rolled back");
      throw new Error(`route ${route} was changed outside this promotion while it ran`);
    }
    throw error;
  }
  await run.commit((r) => {
    r.weights = weights;
    r.intent = null;
    r.events.push(run.event("weights", why, weights));
  });
}

/** Promotions told once that their gateway predates its counters endpoint. */
const warnedOlderGateway = new WeakSet<PromotionRun>();

/** One step: measure until conclusive (or the deadline); returns the final verdict and reason. */
async function measureStep(run: PromotionRun, step: number): Promise<{ verdict: Verdict; reason: string }> {
  const { gateway } = run.options;
  const { route, candidate, target } = run;
  const stepStarted = Date.now();
  for (let attempt = 1; ; attempt++) {
    run.checkStop();
    await waitWhilePaused(run, step);
    const from = iso();
    const before = await readCounters(gateway, route);
    if (before.source === "metrics" && !warnedOlderGateway.has(run)) {
      warnedOlderGateway.add(run);
      run.log(
        "warning: the gateway has no GET /_fig/routes/{id}/counters (older than this promote): reading its /metrics, " +
          "the page of one gateway process; with FIG_GATEWAY_PROCESSES > 1 both readings of a window must reach the same one",
      );
    }
    const result = await runGateWindow(run, step, candidate, run.options.stepDurationMs, stepStarted);
    const after = await readCountersAfter(gateway, route, before);
    run.checkStop();
    if (run.paused) continue; // paused mid-window: the window is discarded, measured again on resume
    const { window, processes, partial } = stepWindow(before, after, route, candidate);
    if (partial) run.log(`warning: step ${step}: ${partial}; this window cannot pass the step`);
    const gw = gatewayMeasurement(
      window,
      target.budgets,
      candidate,
      { from, to: iso() },
      { processes, partial },
    );
    const gate = gateMeasurement(target.script, candidate, result);
    const { minRequests, inconclusiveDeadlineMs } = run.current;
    let { verdict, reason } = decide(gate, gw, minRequests);
    if (verdict === "inconclusive" && Date.now() - stepStarted >= inconclusiveDeadlineMs) {
      verdict = "fail";
      reason = `inconclusive until the deadline (${inconclusiveDeadlineMs} ms): ${reason}`;
    }
    await run.recordDecision({
      step,
      of: run.current.steps.length,
      attempt,
      weights: run.current.weights,
      startedAt: from,
      at: iso(),
      verdict,
      reason,
      minRequests,
      gate,
      gateway: gw,
      shadow: null,
      actor: run.options.actor,
    });
    if (verdict !== "inconclusive") return { verdict, reason };
  }
}
