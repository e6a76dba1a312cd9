// Events of this service.
// Publishes (through the outbox): file.uploaded, validation.queued, validation.requested (job, work queue),
//   validation.completed, validation.failed.
// Consumes: reference.changed (keeps the reference read model current), validation.requested (the worker).
import "@dash/reference/event-catalog"; // reference.changed, which it consumes
import type { DatabaseHandle } from "@fig/db";
import { createEventConsumer, type NatsClient } from "@fig/events";
import type { Logger } from "pino";
import {
  fetchReferenceTable,
  type ReferenceSource,
  replaceReferenceTable,
} from "./domain/reference-model.ts";

/** Re-reads a reference table from reference-data whenever it announces a change. */
export function createReferenceSync(options: {
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  source: ReferenceSource;
}) {
  const { source, ...rest } = options;
  return createEventConsumer({
    ...rest,
    name: "validation-reference-sync",
    type: "reference.changed",
    handler: async (event, tx) => {
      // Tables are small (hundreds of rows): re-reading the changed table is simpler than patching keys.
      await replaceReferenceTable(tx, event.data.table, await fetchReferenceTable(source, event.data.table));
    },
  });
}
