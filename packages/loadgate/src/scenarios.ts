/**
 * k6 `options` → scenarios, with k6's shortcut rules: `vus` + `duration` is one constant-vus scenario,
 * `stages` is one ramping-vus scenario (startVUs = vus), nothing at all is one iteration of one VU. CLI `--vus` /
 * `--duration` are shortcuts at a higher level than the script, so (as in k6) they replace its scenarios.
 */
import { parseDuration } from "./duration.ts";
import type { Tags } from "./metrics.ts";

type Common = {
  name: string;
  exec: string;
  env: Record<string, string>;
  tags: Tags;
  startTimeMs: number;
  gracefulStopMs: number;
};
export type ConstantVusScenario = Common & { executor: "constant-vus"; vus: number; durationMs: number };
export type RampingVusScenario = Common & {
  executor: "ramping-vus";
  startVUs: number;
  stages: { durationMs: number; target: number }[];
  gracefulRampDownMs: number;
};
export type ConstantArrivalRateScenario = Common & {
  executor: "constant-arrival-rate";
  rate: number;
  timeUnitMs: number;
  durationMs: number;
  preAllocatedVUs: number;
  maxVUs: number;
};
export type PerVuIterationsScenario = Common & {
  executor: "per-vu-iterations";
  vus: number;
  iterations: number;
  maxDurationMs: number;
};
export type Scenario =
  | ConstantVusScenario
  | RampingVusScenario
  | ConstantArrivalRateScenario
  | PerVuIterationsScenario;

export type ShortcutOverrides = { vus?: number | undefined; duration?: string | undefined };

export class ScenarioConfigError extends Error {
  override name = "ScenarioConfigError";
}

function nonNegativeInt(value: unknown, what: string, fallback?: number): number {
  if (value === undefined || value === null) {
    if (fallback === undefined) throw new ScenarioConfigError(`${what} is required`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new ScenarioConfigError(`${what} must be a non-negative integer, got ${String(value)}`);
  return n;
}

function duration(value: unknown, what: string, fallback?: number): number {
  if (value === undefined || value === null || value === "") {
    if (fallback === undefined) throw new ScenarioConfigError(`${what} is required`);
    return fallback;
  }
  try {
    return parseDuration(value, what);
  } catch (err) {
    throw new ScenarioConfigError((err as Error).message);
  }
}

function stringRecord(value: unknown): Record<string, string> {
  if (!value || typeof value !== "object") return {};
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

function stagesOf(value: unknown, what: string): RampingVusScenario["stages"] {
  if (!Array.isArray(value) || value.length === 0)
    throw new ScenarioConfigError(`${what} must be a non-empty array`);
  return value.map((stage, i) => ({
    durationMs: duration((stage as { duration?: unknown }).duration, `${what}[${i}].duration`),
    target: nonNegativeInt((stage as { target?: unknown }).target, `${what}[${i}].target`),
  }));
}

function scenarioOf(name: string, raw: Record<string, unknown>): Scenario {
  const where = `scenarios.${name}`;
  const common: Common = {
    name,
    exec: typeof raw.exec === "string" ? raw.exec : "default",
    env: stringRecord(raw.env),
    tags: stringRecord(raw.tags),
    startTimeMs: duration(raw.startTime, `${where}.startTime`, 0),
    gracefulStopMs: duration(raw.gracefulStop, `${where}.gracefulStop`, 30_000),
  };
  switch (raw.executor) {
    case "constant-vus":
      return {
        ...common,
        executor: "constant-vus",
        vus: nonNegativeInt(raw.vus, `${where}.vus`, 1),
        durationMs: duration(raw.duration, `${where}.duration`),
      };
    case "ramping-vus":
      return {
        ...common,
        executor: "ramping-vus",
        startVUs: nonNegativeInt(raw.startVUs, `${where}.startVUs`, 1),
        stages: stagesOf(raw.stages, `${where}.stages`),
        gracefulRampDownMs: duration(raw.gracefulRampDown, `${where}.gracefulRampDown`, 30_000),
      };
    case "constant-arrival-rate": {
      const preAllocatedVUs = nonNegativeInt(raw.preAllocatedVUs, `${where}.preAllocatedVUs`);
      const rate = nonNegativeInt(raw.rate, `${where}.rate`);
      if (rate === 0) throw new ScenarioConfigError(`${where}.rate must be greater than 0`);
      const maxVUs = nonNegativeInt(raw.maxVUs, `${where}.maxVUs`, preAllocatedVUs);
      if (maxVUs < preAllocatedVUs)
        throw new ScenarioConfigError(
          `${where}.maxVUs (${maxVUs}) must not be below preAllocatedVUs (${preAllocatedVUs})`,
        );
      const timeUnitMs = duration(raw.timeUnit, `${where}.timeUnit`, 1000);
      if (timeUnitMs <= 0) throw new ScenarioConfigError(`${where}.timeUnit must be greater than 0`);
      return {
        ...common,
        executor: "constant-arrival-rate",
        rate,
        timeUnitMs,
        durationMs: duration(raw.duration, `${where}.duration`),
        preAllocatedVUs,
        maxVUs,
      };
    }
    case "per-vu-iterations":
      return {
        ...common,
        executor: "per-vu-iterations",
        vus: nonNegativeInt(raw.vus, `${where}.vus`, 1),
        iterations: nonNegativeInt(raw.iterations, `${where}.iterations`, 1),
        maxDurationMs: duration(raw.maxDuration, `${where}.maxDuration`, 600_000),
      };
    default:
      throw new ScenarioConfigError(
        `${where}.executor ${JSON.stringify(raw.executor)} is not supported by the builtin engine ` +
          "(constant-vus, ramping-vus, constant-arrival-rate, per-vu-iterations)",
      );
  }
}

export function resolveScenarios(
  options: Record<string, unknown>,
  overrides: ShortcutOverrides = {},
): Scenario[] {
  const base = { exec: "default", env: {}, tags: {}, startTimeMs: 0, gracefulStopMs: 30_000 };
  const cliShortcut = overrides.vus !== undefined || overrides.duration !== undefined;
  const vus =
    overrides.vus ?? (options.vus === undefined ? undefined : nonNegativeInt(options.vus, "options.vus"));
  const durationText = overrides.duration ?? options.duration;

  if (!cliShortcut && options.scenarios && typeof options.scenarios === "object") {
    const entries = Object.entries(options.scenarios as Record<string, Record<string, unknown>>);
    if (entries.length === 0) throw new ScenarioConfigError("options.scenarios is empty");
    return entries.map(([name, raw]) => scenarioOf(name, raw ?? {}));
  }
  if (!cliShortcut && options.stages !== undefined)
    return [
      {
        ...base,
        name: "default",
        executor: "ramping-vus",
        startVUs: vus ?? 1,
        stages: stagesOf(options.stages, "options.stages"),
        gracefulRampDownMs: 30_000,
      },
    ];
  if (durationText !== undefined && durationText !== null && durationText !== "")
    return [
      {
        ...base,
        name: "default",
        executor: "constant-vus",
        vus: vus ?? 1,
        durationMs: duration(durationText, "duration"),
      },
    ];
  if (cliShortcut)
    throw new ScenarioConfigError(
      "--vus without a duration: give --duration too (it replaces the script's scenarios, as in k6)",
    );
  if (options.iterations !== undefined)
    throw new ScenarioConfigError(
      "options.iterations (shared-iterations) is not supported by the builtin engine",
    );
  return [
    {
      ...base,
      name: "default",
      executor: "per-vu-iterations",
      vus: vus ?? 1,
      iterations: 1,
      maxDurationMs: 600_000,
    },
  ];
}

/** The most VUs a scenario can hold at once (k6's vus_max contribution). */
export function maxVusOf(s: Scenario): number {
  switch (s.executor) {
    case "constant-vus":
    case "per-vu-iterations":
      return s.vus;
    case "ramping-vus":
      return Math.max(s.startVUs, ...s.stages.map((st) => st.target));
    case "constant-arrival-rate":
      return s.maxVUs;
  }
}

/** Length of the scenario's schedule, without graceful stop. */
export function scheduledMsOf(s: Scenario): number {
  switch (s.executor) {
    case "constant-vus":
    case "constant-arrival-rate":
      return s.durationMs;
    case "ramping-vus":
      return s.stages.reduce((sum, st) => sum + st.durationMs, 0);
    case "per-vu-iterations":
      return s.maxDurationMs;
  }
}

/** VUs a ramping-vus scenario wants at `t` ms: linear between stage targets; changes when it crosses an integer. */
export function rampingTarget(s: RampingVusScenario, t: number): number {
  let from = s.startVUs;
  let at = 0;
  for (const stage of s.stages) {
    if (t < at + stage.durationMs) {
      const exact = from + ((stage.target - from) * (t - at)) / stage.durationMs;
      return stage.target >= from ? Math.floor(exact) : Math.ceil(exact);
    }
    from = stage.target;
    at += stage.durationMs;
  }
  return from;
}
