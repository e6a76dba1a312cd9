import type { Database } from "@fig/db";
import { enqueueEvent } from "@fig/events";
import { inArray } from "drizzle-orm";
import { REFERENCE_CHANGED_MAX_KEYS } from "./event-catalog.ts";
import type { ResourceSpec, Row } from "./resource.ts";

export type ChangeOp = "created" | "updated" | "deleted" | "imported";

/** One committed-with-the-write change: the changed keys, and each changed row's fields in the same order. */
export type ReferenceChange = { spec: ResourceSpec; op: ChangeOp; keys: string[]; rows: Row[] };

/** Records a change inside the write's transaction (the outbox), so it is published if and only if the write commits. */
export type RecordChange = (tx: Database, change: ReferenceChange, traceparent?: string) => Promise<void>;

/**
 * The rows as stored, in `keys` order: an import hands over its parsed input (no `version`), so it is read back
 * inside the import's transaction, where its own writes are visible.
 */
async function storedRows(tx: Database, { spec, op, keys, rows }: ReferenceChange): Promise<Row[]> {
  if (op !== "imported" && rows.every((r) => r.version !== undefined)) return rows;
  const found = (await tx.select().from(spec.table).where(inArray(spec.keyColumn, keys))) as Row[];
  const byKey = new Map(found.map((r) => [String(r[spec.key]), r]));
  return keys.map((k) => byKey.get(k)).filter((r): r is Row => r !== undefined);
}

const isoOf = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/**
 * `reference.changed` through the caller's outbox. With `withRows` (both publishers now), each event carries
 * the changed rows with their `version` and `updated_at`, and a `sequence`, so another copy can apply the
 * change without calling back; the monolith names itself as `source` (its own subject).
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
  return async function recordReferenceChanged(tx, change, traceparent) {
    const { spec, op, keys } = change;
    const truncated = keys.length > REFERENCE_CHANGED_MAX_KEYS;
    const fields = (row: Row) => ({
      ...Object.fromEntries(spec.columns.map((c) => [c.name, row[c.name] ?? null])),
      version: row.version,
      updated_at: isoOf(row.updated_at),
    });
    const rows = withRows && !truncated ? (await storedRows(tx, change)).map(fields) : [];
    await enqueueEvent(
      tx,
      "reference.changed",
      {
        table: spec.resource as "codes",
        op,
        keys: truncated ? [] : keys,
        count: keys.length,
        truncated,
        ...(withRows ? { rows } : {}),
      },
      {
        // The per-key sequence is the outbox row's own `seq`, drawn by its insert after the write's row locks.
        ...(withRows ? { sequence: true } : {}),
        subject: keys.length === 1 ? `${spec.resource}/${keys[0]}` : spec.resource,
        ...(source ? { source } : {}),
        ...(traceparent ? { traceparent } : {}),
      },
    );
  };
}
