// The reference-data contract, written once: resource specs, tables, the CSV codec, the store and the HTTP
// routes. reference-data serves it; the monolith's legacy admin module serves the same contract.
export * from "./changes.ts";
export { exportCsv, type ImportOptions, type ImportResult, importCsv, type LineError } from "./csv.ts";
export * from "./event-catalog.ts";
export * from "./read-cache.ts";
export * from "./read-cache-feed.ts";
export type { ColumnKind, CsvColumn, ResourceSpec, Row } from "./resource.ts";
export { foldForSearch, searchTextOf } from "./resource.ts";
export { type ReferenceDeps, referenceRouter } from "./router.ts";
export { type ReferenceRoutes, referenceRoutes } from "./routes.ts";
export { codesSpec } from "./specs/codes.ts";
export { contextsSpec } from "./specs/contexts.ts";
export { establishmentsSpec } from "./specs/establishments.ts";
export { REFERENCE_SPECS } from "./specs/index.ts";
export { rulesSpec } from "./specs/rules.ts";
export * from "./store.ts";
export { referenceSyncHooks } from "./sync-hooks.ts";
export { codes, contexts, establishments, rules } from "./tables.ts";
