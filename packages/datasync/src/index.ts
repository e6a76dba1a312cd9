// Data during the migration: the live sync (apply the write owner's reference.changed), backfill, verify,
// and the write-ownership flip. The services use the sync; `bun run migrate-data` (cli.ts) runs the rest.
export * from "./apply.ts";
export * from "./checksum.ts";
export * from "./component.ts";
export * from "./owner-api.ts";
export * from "./owner-watch.ts";
export { destroyNamespaceState } from "./state.ts";
export * from "./sync.ts";
export { syncKeys } from "./tables.ts";
