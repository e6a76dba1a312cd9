import { writeFile } from "node:fs/promises";
import { type EngineResult, type Progress, runBuiltin, ScenarioExecError, ScriptError } from "./builtin.ts";
import { systemEnv } from "./config.ts";
import type { RequestStats } from "./context.ts";
import { runK6 } from "./k6-engine.ts";
import { ScenarioConfigError } from "./scenarios.ts";
import { figThresholds, formatSummary, type Numbers, refusalsOf, type SummaryExport } from "./summary.ts";
import {
  EXIT_CODES,
  ThresholdConfigError,
  type ThresholdOutcome,
  type Verdict,
  verdictOf,
} from "./thresholds.ts";

export type EngineChoice = "auto" | "k6" | "builtin";

export type GateOptions = {
  /** Path of the k6 script (loadtests/*.js). */
  script: string;
  /** Passed as __ENV.BASE_URL. */
  baseUrl?: string;
  /** Passed as __ENV.TOKEN (bearer JWT). */
  token?: string;
  /** Passed as __ENV.PIN: the upstream the scripts pin with `x-fig-route`, so the gate measures it alone. */
  pin?: string;
  /** k6 shortcut overrides: with either, one constant-vus scenario replaces the script's (as `k6 run --vus --duration`). */
  vus?: number;
  duration?: string;
  /** More __ENV entries (k6 `-e KEY=VALUE`). */
  env?: Record<string, string>;
  /** auto (default): k6 when on PATH, else builtin. */
  engine?: EngineChoice;
  /** Also write the summary JSON (k6 --summary-export shape + `fig`) here. */
  summaryExport?: string;
  /** Called about once a second with the live numbers, and once at the end. */
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  /** Stops the run early; the verdict still comes from the data gathered so far. */
  signal?: AbortSignal;
  /** The builtin engine puts the system environment in __ENV, as `k6 run` does (default true). */
  includeSystemEnv?: boolean;
  /** Where to look for k6 (default: Bun.which("k6")). */
  k6Path?: string | null;
};

export type GateResult = {
  verdict: Verdict;
  /** 0 pass, 99 fail (k6's ThresholdsHaveFailed), 98 inconclusive. */
  exitCode: number;
  engine: "builtin" | "k6";
  /** Every threshold with its number: value (e.g. the p95), samples, ok, inconclusive. */
  thresholds: ThresholdOutcome[];
  /** The headline numbers: http_req_duration p(95), http_req_failed rate, http_reqs count. */
  numbers: Numbers;
  /** Answers by request name and status, with the first 401/403's problem detail (builtin engine). */
  requests: Record<string, RequestStats>;
  /** Request names refused all or mostly (401/403), in plain words; empty when none. */
  refusals: string[];
  summary: SummaryExport;
  /** The readable table. */
  text: string;
  aborted: string | null;
  durationMs: number;
};

/** Errors that are the script's or its options' fault, with k6's exit codes (104 invalid config, 107 script). */
export function exitCodeForError(err: unknown): number | undefined {
  if (
    err instanceof ThresholdConfigError ||
    err instanceof ScenarioConfigError ||
    err instanceof ScenarioExecError
  )
    return EXIT_CODES.invalidConfig;
  if (err instanceof ScriptError) return EXIT_CODES.scriptException;
  return undefined;
}

export function chooseEngine(choice: EngineChoice, k6Path: string | null): "k6" | "builtin" {
  if (choice === "builtin") return "builtin";
  if (choice === "k6") {
    if (!k6Path) throw new Error("--engine k6: no k6 on PATH");
    return "k6";
  }
  return k6Path ? "k6" : "builtin";
}

/**
 * Runs one load gate and decides it: pass, fail (a threshold failed on data) or inconclusive (a threshold had
 * no samples, or there are no thresholds). Never a pass on no data.
 *
 * @example
 * const result = await runGate({ script: "loadtests/reference-data.js", baseUrl, token, pin: "reference-data",
 *   duration: "30s", onProgress: (p) => console.log(p.requests, p.p95) });
 * if (result.verdict !== "pass") rollback(result.thresholds);
 */
export async function runGate(options: GateOptions): Promise<GateResult> {
  const k6Path = options.k6Path === undefined ? Bun.which("k6") : options.k6Path;
  const engine = chooseEngine(options.engine ?? "auto", k6Path);
  const given: Record<string, string> = { ...options.env };
  if (options.baseUrl !== undefined) given.BASE_URL = options.baseUrl;
  if (options.token !== undefined) given.TOKEN = options.token;
  if (options.pin !== undefined) given.PIN = options.pin;
  const env = { ...(options.includeSystemEnv === false ? {} : systemEnv()), ...given };
  const run = {
    script: options.script,
    env,
    overrides: { vus: options.vus, duration: options.duration },
    onProgress: options.onProgress,
    progressIntervalMs: options.progressIntervalMs,
    signal: options.signal,
  };
  const startedAt = new Date().toISOString();
  const result: EngineResult =
    engine === "k6"
      ? await runK6({ ...run, k6Path: k6Path as string, forwardEnv: given })
      : await runBuiltin(run);

  const verdict = verdictOf(result.outcomes);
  const exitCode = EXIT_CODES[verdict];
  const refusals = refusalsOf(result.requests);
  const summary: SummaryExport = {
    ...result.summary,
    fig: {
      engine: result.engine,
      script: options.script,
      verdict,
      exitCode,
      startedAt,
      durationMs: result.durationMs,
      aborted: result.aborted,
      numbers: result.numbers,
      thresholds: figThresholds(result.outcomes),
      iterationErrors: result.iterationErrors,
      requests: result.requests,
      refusals,
      notes: result.notes,
    },
  };
  if (options.summaryExport) await writeFile(options.summaryExport, `${JSON.stringify(summary, null, 2)}\n`);
  return {
    verdict,
    exitCode,
    engine: result.engine,
    thresholds: result.outcomes,
    numbers: result.numbers,
    requests: result.requests,
    refusals,
    summary,
    text: formatSummary(summary, new Set(result.timeMetrics)),
    aborted: result.aborted,
    durationMs: result.durationMs,
  };
}
