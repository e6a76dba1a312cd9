/**
 * The builtin engine: the same k6 script, run under Bun. `k6`, `k6/http` and `k6/metrics` are virtual modules
 * registered with Bun.plugin; the script is imported once per run (a fresh module instance each time, so
 * init code reads this run's __ENV); VUs are async loops sharing this realm (see context.ts).
 */
import { resolve } from "node:path";
import {
  type BuiltinMetrics,
  installGlobals,
  newGroup,
  type RequestStats,
  type RunState,
  setInitRun,
} from "./context.ts";
import {
  type BoundThreshold,
  type Execution,
  elapsedSeconds,
  progressOf,
  runScenario,
  runSetup,
  runTeardown,
  type ScriptModule,
  sampleVus,
  startExecution,
  startTick,
} from "./execution.ts";
import { type CounterSink, MetricRegistry, type RateSink, type Sink, type TrendSink } from "./metrics.ts";
import { DEFAULT_RESPONSE_CALLBACK, httpModule } from "./modules/http.ts";
import { k6Module } from "./modules/k6.ts";
import { metricsModule } from "./modules/metrics.ts";
import { resolveScenarios, type ShortcutOverrides } from "./scenarios.ts";
import {
  DEFAULT_TREND_STATS,
  groupToSummary,
  metricsToSummary,
  type Numbers,
  type SummaryExport,
} from "./summary.ts";
import { assertK6Syntax, K6SyntaxError } from "./syntax.ts";
import {
  assertMethodFits,
  evaluateThreshold,
  parseThresholds,
  ThresholdConfigError,
  type ThresholdDefinition,
  type ThresholdOutcome,
} from "./thresholds.ts";

export type Progress = {
  elapsedMs: number;
  requests: number;
  /** http_req_duration p(95) so far, ms; null before the first request. */
  p95: number | null;
  /** http_req_failed rate so far; null before the first request. */
  errorRate: number | null;
  iterations: number;
  vus: number;
};

export type EngineRun = {
  script: string;
  env: Record<string, string>;
  overrides?: ShortcutOverrides;
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  /** Stops the run early (Ctrl-C, a promotion being cancelled); the summary is still produced. */
  signal?: AbortSignal;
};

export type EngineResult = {
  engine: "builtin" | "k6";
  summary: SummaryExport;
  outcomes: ThresholdOutcome[];
  numbers: Numbers;
  durationMs: number;
  aborted: string | null;
  iterationErrors: number;
  /** Custom metrics holding times, for the readable table. */
  timeMetrics: string[];
  notes: string[];
  /** Answers by request name and status, with the first refusal's detail (the k6 engine has no bodies). */
  requests: Record<string, RequestStats>;
};

/** A script that could not be loaded or whose init code threw (k6's exit 107). */
export class ScriptError extends Error {
  override name = "ScriptError";
}

export const BUILTIN_NOTES = [
  "builtin engine: http_req_duration is fetch start → body read (includes connecting on new connections)",
  "not measured, so not reported: http_req_blocked, http_req_connecting, http_req_tls_handshaking, http_req_sending, http_req_waiting, http_req_receiving",
  "data_sent / data_received are the bytes of request and response as fetch sees them (headers set by the script, decoded bodies), not socket counters",
];

let modulesRegistered = false;

function registerK6Modules() {
  if (modulesRegistered) return;
  modulesRegistered = true;
  Bun.plugin({
    name: "fig-loadgate-k6",
    setup(build) {
      build.module("k6", () => ({ exports: { ...k6Module, default: k6Module }, loader: "object" }));
      build.module("k6/http", () => ({ exports: { ...httpModule, default: httpModule }, loader: "object" }));
      build.module("k6/metrics", () => ({
        exports: { ...metricsModule, default: metricsModule },
        loader: "object",
      }));
    },
  });
}

function defineBuiltins(registry: MetricRegistry): BuiltinMetrics {
  return {
    http_reqs: registry.define("http_reqs", "counter"),
    http_req_duration: registry.define("http_req_duration", "trend", "time"),
    http_req_failed: registry.define("http_req_failed", "rate"),
    checks: registry.define("checks", "rate"),
    iterations: registry.define("iterations", "counter"),
    iteration_duration: registry.define("iteration_duration", "trend", "time"),
    vus: registry.define("vus", "gauge"),
    vus_max: registry.define("vus_max", "gauge"),
    data_sent: registry.define("data_sent", "counter", "data"),
    data_received: registry.define("data_received", "counter", "data"),
    dropped_iterations: registry.define("dropped_iterations", "counter"),
    group_duration: registry.define("group_duration", "trend", "time"),
  };
}

let importChain: Promise<unknown> = Promise.resolve();
let importCount = 0;

/** Imports the script as a fresh module with `run` as the init context; imports are serialized. */
async function importScript(script: string, run: RunState): Promise<ScriptModule> {
  // Bun parses far newer syntax than k6 does; refuse what k6 could not load, as k6 would (exit 107).
  try {
    assertK6Syntax(script);
  } catch (err) {
    if (err instanceof K6SyntaxError) throw new ScriptError(err.message);
    throw new ScriptError(`${script}: ${(err as Error)?.message ?? String(err)}`);
  }
  // A plain path with a query is a new module instance for Bun (a file:// URL's query is ignored); only the
  // entry script is re-evaluated per run, modules it imports are shared.
  const url = `${resolve(script)}?fig-loadgate-run=${++importCount}`;
  const load = importChain.then(async () => {
    setInitRun(run);
    try {
      return (await import(url)) as ScriptModule;
    } finally {
      setInitRun(undefined);
    }
  });
  importChain = load.catch(() => {});
  try {
    return await load;
  } catch (err) {
    throw new ScriptError(`${script}: ${(err as Error)?.stack ?? String(err)}`);
  }
}

/** Reads a script's `options` (init code runs, no VU code): what the k6 engine needs to know its thresholds. */
export async function loadScriptOptions(script: string, env: Record<string, string>) {
  registerK6Modules();
  installGlobals();
  const run = newRunState(env);
  const mod = await importScript(script, run);
  return { options: mod.options ?? {}, run };
}

function newRunState(env: Record<string, string>): RunState {
  const registry = new MetricRegistry();
  return {
    registry,
    builtin: defineBuiltins(registry),
    rootGroup: newGroup("", null),
    responseCallback: DEFAULT_RESPONSE_CALLBACK,
    globalTags: {},
    userAgent: "fig-loadgate/1 (k6-compatible builtin engine)",
    discardResponseBodies: false,
    env,
    iterationErrors: 0,
    lastErrors: [],
    requests: new Map(),
  };
}

/** Threshold definitions bound to their sinks; unknown metrics and misfit aggregations are config errors. */
export function bindThresholds(registry: MetricRegistry, raw: unknown) {
  const defs = parseThresholds(raw);
  return defs.map((def): { def: ThresholdDefinition; sink: Sink } => {
    const metric = registry.metrics.get(def.metric);
    if (!metric)
      throw new ThresholdConfigError(
        `invalid threshold on ${def.key}: no metric named "${def.metric}" found`,
      );
    assertMethodFits(def, metric.type);
    const sink = def.tags.length === 0 ? metric.sink : registry.submetric(metric, def.key, def.tags).sink;
    return { def, sink };
  });
}

/** Runs the script to its end (or an abort) and evaluates its thresholds: k6's `run`, under Bun. */
export async function runBuiltin(opts: EngineRun): Promise<EngineResult> {
  registerK6Modules();
  installGlobals();
  const run = newRunState(opts.env);
  const mod = await importScript(opts.script, run);
  const options = mod.options ?? {};
  applyGlobalOptions(run, options);
  const trendStats = Array.isArray(options.summaryTrendStats)
    ? (options.summaryTrendStats as string[])
    : [...DEFAULT_TREND_STATS];
  const bound = bindThresholds(run.registry, options.thresholds);
  const scenarios = resolveScenarios(options, opts.overrides);
  for (const s of scenarios)
    if (typeof mod[s.exec] !== "function")
      throw new ScenarioExecError(`scenario ${s.name}: the script exports no function "${s.exec}"`);

  const ex = startExecution(run, mod, opts);
  await runSetup(ex);
  const tick = startTick(ex, bound);
  try {
    await Promise.all(scenarios.map((s) => runScenario(ex, s)));
    await runTeardown(ex);
  } finally {
    clearInterval(tick);
    opts.signal?.removeEventListener("abort", ex.onExternal);
  }
  sampleVus(ex);
  opts.onProgress?.(progressOf(ex));
  return resultOf(ex, bound, trendStats);
}

/** The script's `tags`, `userAgent` and `discardResponseBodies` options, for every request of the run. */
function applyGlobalOptions(run: RunState, options: Record<string, unknown>) {
  if (options.tags && typeof options.tags === "object")
    run.globalTags = Object.fromEntries(Object.entries(options.tags).map(([k, v]) => [k, String(v)]));
  if (typeof options.userAgent === "string") run.userAgent = options.userAgent;
  run.discardResponseBodies = options.discardResponseBodies === true;
}

/** The summary, threshold outcomes and headline numbers of a finished run. */
function resultOf(ex: Execution, bound: BoundThreshold[], trendStats: string[]): EngineResult {
  const { run } = ex;
  const { registry, builtin } = run;
  const durationMs = performance.now() - ex.started;
  const outcomes = bound.map(({ def, sink }) => evaluateThreshold(def, sink, elapsedSeconds(ex)));
  const summary: SummaryExport = {
    root_group: groupToSummary(run.rootGroup),
    metrics: metricsToSummary(registry, outcomes, durationMs / 1000, trendStats),
  };
  const timeMetrics = [...registry.metrics.values()].filter((m) => m.contains === "time").map((m) => m.name);
  const durationSink = builtin.http_req_duration.sink as TrendSink;
  const failedSink = builtin.http_req_failed.sink as RateSink;
  return {
    engine: "builtin",
    summary,
    outcomes,
    numbers: {
      p95: durationSink.count ? durationSink.percentile(95) : null,
      errorRate: failedSink.count ? failedSink.rate : null,
      requests: (builtin.http_reqs.sink as CounterSink).sum,
    },
    durationMs,
    aborted: ex.aborted,
    iterationErrors: run.iterationErrors,
    timeMetrics,
    notes: [...BUILTIN_NOTES, ...run.lastErrors.map((e) => `iteration error: ${e}`)],
    requests: Object.fromEntries(run.requests),
  };
}

export class ScenarioExecError extends Error {
  override name = "ScenarioExecError";
}
