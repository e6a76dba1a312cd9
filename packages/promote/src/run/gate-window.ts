import { type GateResult, runGate } from "@fig/loadgate";
import type { GateMeasurement } from "../schema.ts";
import type { PromotionRun } from "./promotion-run.ts";

/**
 * Runs the route's gate for one window, pinned to `pin` (or unpinned: the requests go where the weights say).
 * A pause or stop aborts the window; its progress feeds the live display.
 */
export async function runGateWindow(
  run: PromotionRun,
  step: number,
  pin: string | null,
  durationMs: number,
  stepStarted: number,
) {
  const { options, target } = run;
  run.windowStop = new AbortController();
  if (run.stopReason || run.paused) run.windowStop.abort();
  try {
    return await runGate({
      script: target.script,
      baseUrl: options.baseUrl,
      token: options.gateToken,
      // Unpinned (shadow step): an empty PIN, so the script sends no x-fig-route.
      ...(pin ? { pin, env: target.gateEnv } : { env: { ...target.gateEnv, PIN: "" } }),
      vus: options.vus,
      duration: `${durationMs}ms`,
      engine: options.engine ?? "auto",
      signal: run.windowStop.signal,
      onProgress: (p) =>
        run.progress({
          step,
          phase:
            step === 0 ? "shadow" : run.current.decisions.at(-1)?.step === step ? "holding" : "measuring",
          stepElapsedMs: Date.now() - stepStarted,
          p95: p.p95,
          errorRate: p.errorRate,
          requests: p.requests,
        }),
    });
  } finally {
    run.windowStop = undefined;
  }
}

/** The gate's result as a decision records it. */
export function gateMeasurement(script: string, pin: string | null, result: GateResult): GateMeasurement {
  return {
    script,
    engine: result.engine,
    verdict: result.verdict,
    pin,
    numbers: result.numbers,
    refusals: result.refusals,
    thresholds: result.thresholds.map(({ key, expression, ok, inconclusive, value, samples }) => ({
      key,
      expression,
      ok,
      inconclusive,
      value,
      samples,
    })),
    summary: result.summary,
  };
}
