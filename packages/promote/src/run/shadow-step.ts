import type { GateResult } from "@fig/loadgate";
import type { ShadowRouteCounters } from "../gateway-client.ts";
import type { ShadowMeasurement, Verdict } from "../schema.ts";
import { gateMeasurement, runGateWindow } from "./gate-window.ts";
import { iso, type PromotionRun } from "./promotion-run.ts";

type ShadowBudget = { durationMs: number; budget: number };

/**
 * Step 0: mirror the route to the candidate (shadow 100 %) while the gate runs unpinned against the stable
 * upstream, and compare. Measures until conclusive (or the deadline); logs the last diffs when it did not pass.
 */
export async function shadowStep(run: PromotionRun): Promise<{ verdict: Verdict; reason: string }> {
  const { verdict, reason, counters } = await measureShadow(run);
  if (verdict !== "pass")
    for (const sample of (counters?.samples ?? []).slice(-5)) run.log(`  diff: ${JSON.stringify(sample)}`);
  return { verdict, reason };
}

async function measureShadow(run: PromotionRun) {
  const { route, id } = run;
  const { gateway } = run.options;
  const shadow = run.current.shadow as ShadowBudget;
  await run.commit((r) => {
    r.step = 0;
  });
  const stepStarted = Date.now();
  // The shadow share is route state too: its revision is the one the next weights change must match.
  run.routeRevision = await gateway.setShadow(route, 100, `promotion ${id}: shadow step`);
  try {
    for (let attempt = 1; ; attempt++) {
      run.checkStop();
      const from = iso();
      const before = await gateway.shadow(route);
      // Unpinned: the gate's requests go where the weights say (the stable upstream) and are mirrored.
      const result = await runGateWindow(run, 0, null, shadow.durationMs, stepStarted);
      await gateway.drainShadow();
      const after = await gateway.shadow(route);
      run.checkStop();
      const measurement = shadowMeasurement(before, after, shadow.budget);
      const { verdict, reason } = shadowVerdict(run, measurement, result, stepStarted);
      await run.recordDecision({
        step: 0,
        of: run.current.steps.length,
        attempt,
        weights: run.current.weights,
        startedAt: from,
        at: iso(),
        verdict,
        reason,
        minRequests: run.current.minRequests,
        gate: gateMeasurement(run.target.script, null, result),
        gateway: null,
        shadow: measurement,
        actor: run.options.actor,
      });
      if (verdict !== "inconclusive") return { verdict, reason, counters: after };
    }
  } finally {
    run.routeRevision = await gateway
      .setShadow(route, 0, `promotion ${id}: shadow step over`)
      .catch(() => run.routeRevision);
  }
}

/** The shadow report's counters over the window (after minus before), against the budget. */
function shadowMeasurement(
  before: ShadowRouteCounters | null,
  after: ShadowRouteCounters | null,
  budget: number,
): ShadowMeasurement {
  const diff = (k: "compared" | "mismatches" | "noiseOnly" | "candidateErrors") =>
    Math.max(0, (after?.[k] ?? 0) - (before?.[k] ?? 0));
  const compared = diff("compared");
  const mismatches = diff("mismatches");
  return {
    compared,
    mismatches,
    noiseOnly: diff("noiseOnly"),
    candidateErrors: diff("candidateErrors"),
    mismatchRate: compared > 0 ? mismatches / compared : null,
    budget,
    noiseFields: (after?.noise.fields ?? []).map((f) => f.path),
    samples: (after?.samples ?? []).slice(-5),
  };
}

/** Refused gate → fail; too few compared → inconclusive (fail at the deadline); else the mismatch rate decides. */
function shadowVerdict(
  run: PromotionRun,
  m: ShadowMeasurement,
  result: GateResult,
  stepStarted: number,
): { verdict: Verdict; reason: string } {
  const { minRequests, inconclusiveDeadlineMs } = run.current;
  if (result.refusals.length > 0) return { verdict: "fail", reason: result.refusals.join("; ") };
  if (m.compared < minRequests) {
    const reason = `only ${m.compared} mirrored requests compared (--min-requests ${minRequests})`;
    if (Date.now() - stepStarted >= inconclusiveDeadlineMs)
      return { verdict: "fail", reason: `inconclusive until the deadline: ${reason}` };
    return { verdict: "inconclusive", reason };
  }
  if ((m.mismatchRate ?? 0) > m.budget)
    return {
      verdict: "fail",
      reason: `shadow mismatch rate ${(m.mismatchRate as number).toFixed(4)} over the budget ${m.budget} (${m.mismatches} of ${m.compared}, after the noise baseline)`,
    };
  return {
    verdict: "pass",
    reason: `shadow mismatch rate ${(m.mismatchRate ?? 0).toFixed(4)} within ${m.budget} (${m.compared} compared, ${m.noiseOnly} noise only)`,
  };
}
