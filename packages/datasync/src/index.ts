// Data during the migration, driven by a route's `fig.data` declaration: the live sync (apply the write owner's
// change events), backfill, verify, and the write-ownership flip. The services use the sync;
// `bun run migrate-data` (cli.ts) runs the rest.
export * from "./apply.ts";
export * from "./backfill.ts";
export * from "./checksum.ts";
export * from "./component.ts";
export { type CliConfig, DEFAULT_ROUTES_FILE, loadCliConfig, type SideDatabase } from "./config.ts";
export * from "./data-routes.ts";
export * from "./data-view.ts";
export * from "./declared-table.ts";
export * from "./flip.ts";
export * from "./flip-route.ts";
export * from "./owner-api.ts";
export * from "./owner-watch.ts";
export * from "./preflight.ts";
export * from "./publish.ts";
export {
  createDatasyncState,
  type DatasyncState,
  destroyNamespaceState,
  type LagReport,
} from "./state.ts";
export * from "./status.ts";
export * from "./sync.ts";
export { syncKeys } from "./tables.ts";
export * from "./verify.ts";
