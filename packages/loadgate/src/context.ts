/**
 * Per-run and per-VU state of the builtin engine.
 *
 * k6 gives every VU its own JavaScript realm, so `__VU`, `__ITER` and `__ENV` are plain per-realm globals.
 * Here all VUs share one Bun realm: the globals are getters that read the VU running the current async
 * call chain (AsyncLocalStorage), or the init context (`__VU` 0) while the script module is evaluated.
 * Module-level state in a script is therefore shared by every VU (in k6 each VU has its own copy).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Metric, MetricRegistry, Tags } from "./metrics.ts";

export type CheckNode = { name: string; path: string; id: string; passes: number; fails: number };
export type GroupNode = {
  name: string;
  path: string;
  id: string;
  groups: Map<string, GroupNode>;
  checks: Map<string, CheckNode>;
};

/** `http.expectedStatuses(...)`: statuses (or inclusive ranges) that are not failures. */
export type ExpectedStatuses = { readonly kind: "expectedStatuses"; ranges: [number, number][] };

export type BuiltinMetrics = Record<
  | "http_reqs"
  | "http_req_duration"
  | "http_req_failed"
  | "checks"
  | "iterations"
  | "iteration_duration"
  | "vus"
  | "vus_max"
  | "data_sent"
  | "data_received"
  | "dropped_iterations"
  | "group_duration",
  Metric
>;

/** Per request name (k6's `name` tag): answers by status, and the first 401/403 with its problem `detail`. */
export type RequestStats = {
  statuses: Record<string, number>;
  refused: { status: number; detail: string | null } | null;
};

export type RunState = {
  registry: MetricRegistry;
  builtin: BuiltinMetrics;
  rootGroup: GroupNode;
  responseCallback: ExpectedStatuses | null;
  /** options.tags: added to every sample. */
  globalTags: Tags;
  userAgent: string;
  discardResponseBodies: boolean;
  env: Record<string, string>;
  /** Iterations that threw (not counted as interrupted); the last few messages are kept for the report. */
  iterationErrors: number;
  lastErrors: string[];
  /** By request name, so a gate refused wholesale (a token without the journey's roles) can say so. */
  requests: Map<string, RequestStats>;
};

export type VuState = {
  /** 1-based, unique in the run (k6 `__VU`). */
  id: number;
  /** Iterations this VU started in the current scenario, 0-based (k6 `__ITER`). */
  iter: number;
  scenario: string;
  /** Scenario tags plus the `scenario` tag. */
  tags: Tags;
  env: Record<string, string>;
  group: GroupNode;
  /** performance.now() until which this VU sleeps; un-awaited sleeps are waited out before the next iteration. */
  sleepUntil: number;
  /** Aborted at the scenario's hard stop (end of gracefulStop) or when a threshold aborts the run. */
  signal: AbortSignal;
  run: RunState;
};

const vuStorage = new AsyncLocalStorage<VuState>();
/** The run whose script module is being evaluated (init context); imports are serialized by the engine. */
let initRun: RunState | undefined;

export function runInVu<T>(vu: VuState, fn: () => T): T {
  return vuStorage.run(vu, fn);
}

export function currentVu(): VuState | undefined {
  return vuStorage.getStore();
}

export function setInitRun(run: RunState | undefined) {
  initRun = run;
}

/** The run of the calling code: its VU's, or the one being initialised. */
export function currentRun(): RunState {
  const run = vuStorage.getStore()?.run ?? initRun;
  if (!run) throw new Error("k6 API called outside a load-gate run (no VU and no init context)");
  return run;
}

let installed = false;

/** Defines `__VU`, `__ITER` and `__ENV` on globalThis once per process. */
export function installGlobals() {
  if (installed) return;
  installed = true;
  Object.defineProperties(globalThis, {
    __VU: { configurable: true, get: () => vuStorage.getStore()?.id ?? 0 },
    __ITER: { configurable: true, get: () => vuStorage.getStore()?.iter ?? 0 },
    __ENV: { configurable: true, get: () => vuStorage.getStore()?.env ?? initRun?.env ?? {} },
  });
}

export function md5(text: string): string {
  return new Bun.CryptoHasher("md5").update(text).digest("hex");
}

export function newGroup(name: string, parentPath: string | null): GroupNode {
  const path = parentPath === null ? "" : `${parentPath}::${name}`;
  return { name, path, id: md5(path), groups: new Map(), checks: new Map() };
}
