import type { Database } from "@fig/db";
import { enqueueEvent, REFERENCE_CHANGED_MAX_KEYS } from "@fig/events";
import type { ResourceSpec } from "./domain/resource.ts";

// Events of this service. Publishes: reference.changed (through the outbox, in the write's transaction).
// Consumes: none.

type Op = "created" | "updated" | "deleted" | "imported";

/** Records `reference.changed` in the outbox of the caller's transaction. */
export async function recordReferenceChanged(
  tx: Database,
  spec: ResourceSpec,
  op: Op,
  keys: string[],
  traceparent?: string,
): Promise<void> {
  const truncated = keys.length > REFERENCE_CHANGED_MAX_KEYS;
  await enqueueEvent(
    tx,
    "reference.changed",
    {
      table: spec.resource as "codes",
      op,
      keys: truncated ? [] : keys,
      count: keys.length,
      truncated,
    },
    {
      subject: keys.length === 1 ? `${spec.resource}/${keys[0]}` : spec.resource,
      ...(traceparent ? { traceparent } : {}),
    },
  );
}
