/**
 * One run of the builtin engine once its script is loaded: the stop switch, the VU counts, setup and teardown
 * on VU 0, the once-a-second tick (gauges, abortOnFail thresholds, progress) and each scenario's executor.
 */
import type { EngineRun, Progress } from "./builtin.ts";
import { type RunState, runInVu, type VuState } from "./context.ts";
import { type ExecutorRuntime, runExecutor } from "./executors.ts";
import type { CounterSink, RateSink, Sink, TrendSink } from "./metrics.ts";
import { InterruptedError } from "./modules/http.ts";
import { waitUntil } from "./modules/k6.ts";
import type { Scenario } from "./scenarios.ts";
import { evaluateThreshold, type ThresholdDefinition } from "./thresholds.ts";

export type ScriptModule = Record<string, unknown> & { options?: Record<string, unknown> };
export type BoundThreshold = { def: ThresholdDefinition; sink: Sink };

export type Execution = {
  run: RunState;
  mod: ScriptModule;
  opts: EngineRun;
  stop: AbortController;
  /** Why the run stopped early (a signal, an abortOnFail threshold); null when it ran its course. */
  aborted: string | null;
  started: number;
  vus: { lastId: number; active: number; allocated: number };
  /** What setup() returned, as JSON (each VU gets the same copy, as in k6). */
  data: unknown;
  /** Stops the run when the caller's signal fires; removed when the run ends. */
  onExternal: () => void;
};

/** Starts the clock and listens to the caller's signal. */
export function startExecution(run: RunState, mod: ScriptModule, opts: EngineRun): Execution {
  const ex: Execution = {
    run,
    mod,
    opts,
    stop: new AbortController(),
    aborted: null,
    started: 0,
    vus: { lastId: 0, active: 0, allocated: 0 },
    data: undefined,
    onExternal: () => {
      ex.aborted ??= "stopped from outside (signal)";
      ex.stop.abort();
    },
  };
  if (opts.signal?.aborted) ex.onExternal();
  opts.signal?.addEventListener("abort", ex.onExternal, { once: true });
  ex.started = performance.now();
  return ex;
}

export const elapsedSeconds = (ex: Execution) => (performance.now() - ex.started) / 1000;

// setup() and teardown() run on a VU 0 of their own, as k6's do.
function serviceVu({ run, opts, stop }: Execution): VuState {
  return {
    id: 0,
    iter: 0,
    scenario: "",
    tags: {},
    env: opts.env,
    group: run.rootGroup,
    sleepUntil: 0,
    signal: stop.signal,
    run,
  };
}

export async function runSetup(ex: Execution) {
  if (typeof ex.mod.setup !== "function") return;
  const fn = ex.mod.setup as () => unknown;
  const value = await runInVu(serviceVu(ex), () => fn());
  ex.data = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

export async function runTeardown(ex: Execution) {
  if (typeof ex.mod.teardown !== "function") return;
  const fn = ex.mod.teardown as (d: unknown) => unknown;
  await runInVu(serviceVu(ex), () => fn(ex.data));
}

export function sampleVus({ run, vus }: Execution) {
  run.registry.add(run.builtin.vus, vus.active, run.globalTags);
  run.registry.add(run.builtin.vus_max, vus.allocated, run.globalTags);
}

export function progressOf({ run, started, vus }: Execution): Progress {
  const durationSink = run.builtin.http_req_duration.sink as TrendSink;
  const failedSink = run.builtin.http_req_failed.sink as RateSink;
  return {
    elapsedMs: performance.now() - started,
    requests: durationSink.count,
    p95: durationSink.count ? durationSink.percentile(95) : null,
    errorRate: failedSink.count ? failedSink.rate : null,
    iterations: (run.builtin.iterations.sink as CounterSink).sum,
    vus: vus.active,
  };
}

/** Every tick: sample the VU gauges, stop on a failed abortOnFail threshold, report progress. */
export function startTick(ex: Execution, bound: BoundThreshold[]) {
  const abortable = bound.filter(({ def }) => def.abortOnFail);
  return setInterval(() => {
    sampleVus(ex);
    for (const { def, sink } of abortable) {
      const outcome = evaluateThreshold(def, sink, elapsedSeconds(ex));
      // No data never aborts (nor passes); a failure aborts once delayAbortEval has elapsed.
      if (outcome.inconclusive || outcome.ok) continue;
      if (def.delayAbortEvalMs !== undefined && performance.now() - ex.started < def.delayAbortEvalMs)
        continue;
      ex.aborted ??= `threshold ${def.key} '${def.expression.source}' failed with abortOnFail`;
      ex.stop.abort();
    }
    ex.opts.onProgress?.(progressOf(ex));
  }, ex.opts.progressIntervalMs ?? 1000);
}

/** One scenario: wait for its start time, then its executor runs VUs until it is done or the run stops. */
export async function runScenario(ex: Execution, s: Scenario) {
  const { stop } = ex;
  if (s.startTimeMs > 0) await waitUntil(ex.started + s.startTimeMs, stop.signal);
  if (stop.signal.aborted) return;
  const hard = new AbortController();
  const onStop = () => hard.abort();
  stop.signal.addEventListener("abort", onStop, { once: true });
  try {
    await runExecutor(s, executorRuntime(ex, s, hard));
  } finally {
    stop.signal.removeEventListener("abort", onStop);
  }
}

function executorRuntime(ex: Execution, s: Scenario, hard: AbortController): ExecutorRuntime {
  const { run, vus } = ex;
  const { registry, builtin } = run;
  const fn = ex.mod[s.exec] as (data: unknown) => unknown;
  const env = { ...ex.opts.env, ...s.env };
  const tags = { ...s.tags, scenario: s.name };
  return {
    stopSignal: ex.stop.signal,
    newVu: () => {
      vus.allocated++;
      return {
        id: ++vus.lastId,
        iter: 0,
        scenario: s.name,
        tags,
        env,
        group: run.rootGroup,
        sleepUntil: 0,
        signal: hard.signal,
        run,
      };
    },
    active: (delta) => {
      vus.active += delta;
      // The tick samples the gauge once a second; a rise is recorded at once too, or a short run whose VUs
      // start and stop between two ticks would report a lower `vus` max than it ran with.
      if (delta > 0) registry.add(builtin.vus, vus.active, run.globalTags);
    },
    dropped: () => registry.add(builtin.dropped_iterations, 1, { ...run.globalTags, ...tags }),
    hardStop: () => hard.abort(),
    iterate: (vu) => iterate(vu, fn, ex.data),
  };
}

const MAX_LOGGED_ERRORS = 10;

/** One iteration: the exported function, then any un-awaited sleep; metrics unless interrupted. */
async function iterate(vu: VuState, fn: (data: unknown) => unknown, data: unknown) {
  if (vu.signal.aborted) return;
  const start = performance.now();
  let interrupted = false;
  try {
    await runInVu(vu, () => fn(data));
    if (vu.sleepUntil > performance.now()) await waitUntil(vu.sleepUntil, vu.signal);
  } catch (err) {
    if (err instanceof InterruptedError || vu.signal.aborted) interrupted = true;
    else {
      const run = vu.run;
      run.iterationErrors++;
      const message = (err as Error)?.message ?? String(err);
      if (run.iterationErrors <= MAX_LOGGED_ERRORS)
        console.error(
          `loadgate: VU ${vu.id} iteration ${vu.iter} threw: ${(err as Error)?.stack ?? message}`,
        );
      if (run.lastErrors.length < 5) run.lastErrors.push(message);
    }
  } finally {
    vu.iter++;
  }
  if (interrupted || vu.signal.aborted) return;
  const { registry, builtin } = vu.run;
  const tags = { ...vu.run.globalTags, ...vu.tags, group: "" };
  registry.add(builtin.iterations, 1, tags);
  registry.add(builtin.iteration_duration, performance.now() - start, tags);
}
