export {
  CLAIM_COLUMNS,
  type ClaimColumn,
  type ColumnKind,
  type ColumnName,
  columnForHeader,
  headerKey,
} from "./columns.ts";
export type { CsvDelimiter } from "./csv.ts";
export type { ClaimsEncoding } from "./decode.ts";
export { createRuleEngine, type RuleEngine, type RuleEngineOptions, RuleParamsError } from "./engine.ts";
export {
  type ClaimsExpectation,
  type ClaimsFileEncoding,
  claimsBom,
  encodeClaimsText,
  type GenerateClaimsOptions,
  generateClaims,
  streamClaims,
} from "./generate.ts";
export { namProblem } from "./nam.ts";
export {
  type ClaimsHeader,
  ClaimsHeaderError,
  MALFORMED_LINE,
  type ParseClaimsOptions,
  parseClaims,
} from "./parser.ts";
export { createReferenceSnapshot, loadReferenceSnapshot, referenceSnapshotFromCsv } from "./reference.ts";
export {
  defineRule,
  type FileRule,
  type FileRuleState,
  type RowRule,
  type RuleContext,
  type RuleDefinition,
  type Violation,
} from "./rules/define.ts";
export { BUILTIN_RULES } from "./rules/index.ts";
export { CLAIMS_HEAD_BYTES, type ClaimsHeadProblem, inspectClaimsHead } from "./sniff.ts";
export type * from "./types.ts";
