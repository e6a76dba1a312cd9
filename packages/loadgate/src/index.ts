export type { EngineResult, Progress } from "./builtin.ts";
export { loadScriptOptions, runBuiltin, ScenarioExecError, ScriptError } from "./builtin.ts";
export type { RequestStats } from "./context.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export type { EngineChoice, GateOptions, GateResult } from "./gate.ts";
export { chooseEngine, exitCodeForError, runGate } from "./gate.ts";
export { numbersFromK6Summary, outcomesFromK6Summary } from "./k6-engine.ts";
export { CounterSink, GaugeSink, MetricRegistry, RateSink, TrendSink } from "./metrics.ts";
export { resolveScenarios, ScenarioConfigError } from "./scenarios.ts";
export type { FigSection, Numbers, SummaryExport } from "./summary.ts";
export { formatSummary, refusalsOf } from "./summary.ts";
export { assertK6Syntax, K6_SYNTAX, K6SyntaxError, k6SyntaxError } from "./syntax.ts";
export type { ThresholdDefinition, ThresholdExpression, ThresholdOutcome, Verdict } from "./thresholds.ts";
export {
  compare,
  EXIT_CODES,
  evaluateThreshold,
  parseMetricSelector,
  parseThresholdExpression,
  parseThresholds,
  ThresholdConfigError,
  verdictOf,
} from "./thresholds.ts";
