import { createFollowerSync, fetchOwnerTable, type OwnerApi, readDataRoute } from "@fig/datasync";
import { referenceChangeRecorder } from "./changes.ts";
import { referenceSyncHooks } from "./sync-hooks.ts";

// Events of reference data, the same on its two sides: the monolith's legacy admin module and the
// reference-data service. Publishes: reference.changed through the outbox, in the write's transaction, with the
// changed keys, the rows (version, updated_at) and a per-key sequence; the monolith names itself as source, so
// its events have a subject of their own. Consumes: the other side's reference.changed while that side owns the
// writes of the route (gateway KV; the monolith until the flip, reference-data after it): the live sync applies
// the carried rows.

/** The two services that hold reference data. */
export type ReferenceSide = "monolith" | "reference-data";

type FollowerOptions = Parameters<typeof createFollowerSync>[0];

export type ReferenceSyncOptions = Pick<
  FollowerOptions,
  "database" | "nats" | "namespace" | "logger" | "registry"
> & {
  /** The gateway route whose `fig.data` (in the route file) says what to sync and which consumer follows. */
  route: string;
  routesFile: string;
  /** The other side's API, read when an event carries no rows (truncated) or a table must be re-read. */
  owner: OwnerApi;
};

/**
 * One side's reference events: `recordChange` records its `reference.changed` in the outbox of the write's
 * transaction; `createSync` is the live sync from the other side, on while the other side owns the writes.
 *
 * @example
 * const { recordChange, createSync } = referenceEvents("reference-data");
 */
export function referenceEvents(side: ReferenceSide) {
  const recordChange = referenceChangeRecorder({
    ...(side === "monolith" ? { source: "monolith" } : {}),
    withRows: true,
  });
  const origin: ReferenceSide = side === "monolith" ? "reference-data" : "monolith";
  function createSync({ owner, route, routesFile, ...rest }: ReferenceSyncOptions) {
    return createFollowerSync({
      ...rest,
      route: readDataRoute(routesFile, route),
      origin,
      readOwnerTable: (table, signal) => fetchOwnerTable(owner, table, signal),
      ...referenceSyncHooks(recordChange),
    });
  }
  return { recordChange, createSync };
}
