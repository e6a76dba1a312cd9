import { createFollowerSync, fetchOwnerTable, type OwnerApi, readDataRoute } from "@fig/datasync";
import type { DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import { referenceChangeRecorder, referenceSyncHooks } from "@fig/reference";
import type { Logger } from "@fig/service";
import type { Registry } from "prom-client";

// Events of this service.
// Publishes: reference.changed (through the outbox, in the write's transaction), with the changed keys and,
//   additively, the rows (version, updated_at) and a per-key sequence, so the monolith can follow it after the flip.
// Consumes: the monolith's reference.changed (source monolith, its own subject) while the monolith is the write
//   owner of route `reference-data` (gateway KV): the live sync applies the carried rows here.

/** Records `reference.changed` in the outbox of the write's transaction (the owner's subject, keys and rows). */
export const recordReferenceChanged = referenceChangeRecorder({ withRows: true });

/** The live sync from the monolith, on while the monolith owns the route's writes. */
export function createMonolithSync(options: {
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Logger;
  registry: Registry;
  /** The gateway route whose `fig.data` (in the route file) says what to sync and which consumer follows. */
  route: string;
  routesFile: string;
  monolith: OwnerApi;
}) {
  const { monolith, route, routesFile, ...rest } = options;
  return createFollowerSync({
    ...rest,
    route: readDataRoute(routesFile, route),
    origin: "monolith",
    readOwnerTable: (table, signal) => fetchOwnerTable(monolith, table, signal),
    ...referenceSyncHooks(recordReferenceChanged),
  });
}
