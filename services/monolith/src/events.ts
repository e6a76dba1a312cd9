import { createFollowerSync, fetchOwnerTable, type OwnerApi, readDataRoute } from "@fig/datasync";
import type { DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import { referenceChangeRecorder, referenceSyncHooks } from "@fig/reference";
import type { Logger } from "@fig/service";
import type { Registry } from "prom-client";

// Events of the monolith. Publishes: reference.changed (source `monolith`, its own subject
// `<ns>.events.reference.changed.monolith`) for every write of the legacy admin module, with the changed rows,
// so the data can follow traffic while routes move. Validations publish nothing (the legacy app never did).
// Consumes: reference-data's reference.changed once reference-data owns the writes of route `reference-data`
// (after the flip), so the monolith's remaining modules (its synchronous validation) keep current reference data.

/** Records the monolith's `reference.changed` in the outbox of the write's transaction. */
export const recordMonolithReferenceChanged = referenceChangeRecorder({ source: "monolith", withRows: true });

/** The reverse live sync: reference-data → monolith, on while reference-data owns the route's writes. */
export function createReferenceDataSync(options: {
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Logger;
  registry: Registry;
  /** The gateway route whose `fig.data` (in the route file) says what to sync and which consumer follows. */
  route: string;
  routesFile: string;
  referenceData: OwnerApi;
}) {
  const { referenceData, route, routesFile, ...rest } = options;
  return createFollowerSync({
    ...rest,
    route: readDataRoute(routesFile, route),
    origin: "reference-data",
    readOwnerTable: (table, signal) => fetchOwnerTable(referenceData, table, signal),
    ...referenceSyncHooks(recordMonolithReferenceChanged),
  });
}
