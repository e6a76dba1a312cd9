import type { Database } from "@fig/db";
import { enqueueEvent, REFERENCE_CHANGED_MAX_KEYS } from "@fig/events";
import type { ResourceSpec, Row } from "./resource.ts";

export type ChangeOp = "created" | "updated" | "deleted" | "imported";

/** One committed-with-the-write change: the changed keys, and each changed row's fields in the same order. */
export type ReferenceChange = { spec: ResourceSpec; op: ChangeOp; keys: string[]; rows: Row[] };

/** Records a change inside the write's transaction (the outbox), so it is published if and only if the write commits. */
export type RecordChange = (tx: Database, change: ReferenceChange, traceparent?: string) => Promise<void>;

/**
 * `reference.changed` through the caller's outbox. reference-data (the owner) sends keys; the monolith names
 * itself as `source` (its own subject) and sends `rows` too, so another copy can apply the change.
 *
 * @example
 * const recordChange = referenceChangeRecorder({ source: "monolith", withRows: true });
 */
export function referenceChangeRecorder({
  source,
  withRows = false,
}: {
  source?: string;
  withRows?: boolean;
} = {}): RecordChange {
  return async function recordReferenceChanged(tx, { spec, op, keys, rows }, traceparent) {
    const truncated = keys.length > REFERENCE_CHANGED_MAX_KEYS;
    const fields = (row: Row) => Object.fromEntries(spec.columns.map((c) => [c.name, row[c.name] ?? null]));
    await enqueueEvent(
      tx,
      "reference.changed",
      {
        table: spec.resource as "codes",
        op,
        keys: truncated ? [] : keys,
        count: keys.length,
        truncated,
        ...(withRows ? { rows: truncated ? [] : rows.map(fields) } : {}),
      },
      {
        subject: keys.length === 1 ? `${spec.resource}/${keys[0]}` : spec.resource,
        ...(source ? { source } : {}),
        ...(traceparent ? { traceparent } : {}),
      },
    );
  };
}
