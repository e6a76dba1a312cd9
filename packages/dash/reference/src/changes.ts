import type { Database } from "@fig/db";
import { enqueueEvent, enqueueWith, type WriteStatement } from "@fig/events";
import { getTableColumns, inArray, type SQL, sql } from "drizzle-orm";
import { REFERENCE_CHANGED_MAX_KEYS } from "./event-catalog.ts";
import type { ResourceSpec, Row } from "./resource.ts";

export type ChangeOp = "created" | "updated" | "deleted" | "imported";

/** One committed-with-the-write change: the changed keys, and each changed row's fields in the same order. */
export type ReferenceChange = { spec: ResourceSpec; op: ChangeOp; keys: string[]; rows: Row[] };

/** One write of `keys` and its change, made by one statement: `write` RETURNs the changed rows. */
export type ChangeWrite = { spec: ResourceSpec; op: ChangeOp; keys: string[]; write: WriteStatement };

/**
 * Records a change inside the write's transaction (the outbox), so it is published if and only if the write commits.
 * `withWrite`, when the recorder has it, makes the write and records its change in one statement, and returns the
 * rows as stored (as drizzle's `.returning()` maps them); a store uses it when present and otherwise writes, then
 * calls the recorder.
 */
export type RecordChange = ((
  tx: Database,
  change: ReferenceChange,
  traceparent?: string,
) => Promise<void>) & {
  withWrite?: (tx: Database, change: ChangeWrite, traceparent?: string) => Promise<Row[]>;
};

/**
 * Makes `change.write` (a drizzle query that RETURNs the changed rows) and records its change: in one statement
 * through `withWrite` when the recorder has it, else the write, then the recorder when it changed a row. Returns
 * the changed rows as stored.
 */
export async function writeChange(
  tx: Database,
  recordChange: RecordChange,
  change: ChangeWrite & { write: PromiseLike<unknown> },
  traceparent?: string,
): Promise<Row[]> {
  if (recordChange.withWrite) return recordChange.withWrite(tx, change, traceparent);
  const { write, ...rest } = change;
  const rows = (await write) as Row[];
  if (rows.length > 0) await recordChange(tx, { ...rest, rows }, traceparent);
  return rows;
}

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
  const dataOf = (change: ReferenceChange | ChangeWrite, rows: Record<string, unknown>[]) => {
    const { spec, op, keys } = change;
    const truncated = keys.length > REFERENCE_CHANGED_MAX_KEYS;
    return {
      table: spec.resource as "codes",
      op,
      keys: truncated ? [] : keys,
      count: keys.length,
      truncated,
      ...(withRows ? { rows: truncated ? [] : rows } : {}),
    };
  };
  const optionsOf = ({ spec, keys }: ReferenceChange | ChangeWrite, traceparent: string | undefined) => ({
    // The per-key sequence is the outbox row's own `seq`, drawn by its insert after the write's row locks.
    ...(withRows ? { sequence: true } : {}),
    subject: keys.length === 1 ? `${spec.resource}/${keys[0]}` : spec.resource,
    ...(source ? { source } : {}),
    ...(traceparent ? { traceparent } : {}),
  });
  const recordReferenceChanged: RecordChange = async (tx, change, traceparent) => {
    const { spec, keys } = change;
    const fields = (row: Row) => ({
      ...Object.fromEntries(spec.columns.map((c) => [c.name, row[c.name] ?? null])),
      version: row.version,
      updated_at: isoOf(row.updated_at),
    });
    const rows =
      withRows && keys.length <= REFERENCE_CHANGED_MAX_KEYS ? (await storedRows(tx, change)).map(fields) : [];
    await enqueueEvent(tx, "reference.changed", dataOf(change, rows), optionsOf(change, traceparent));
  };
  recordReferenceChanged.withWrite = async (tx, change, traceparent) => {
    // `rows` built by the statement from what it wrote: the same fields as `fields` above, and `updated_at` as
    // JavaScript's toISOString prints the Date the driver gives (UTC, milliseconds truncated).
    const fromRows =
      withRows && change.keys.length <= REFERENCE_CHANGED_MAX_KEYS
        ? { field: "rows" as const, each: rowJsonOf(change.spec) }
        : undefined;
    const { rows } = await enqueueWith(tx, change.write, "reference.changed", dataOf(change, []), {
      ...optionsOf(change, traceparent),
      ...(fromRows ? { fromRows } : {}),
      table: change.spec.table,
    });
    return rows as Row[];
  };
  return recordReferenceChanged;
}

const rowJsons = new WeakMap<ResourceSpec, SQL>();

/** One written row as `reference.changed` carries it, in SQL over the write's RETURNING (see `fields`). */
function rowJsonOf(spec: ResourceSpec): SQL {
  let json = rowJsons.get(spec);
  if (!json) {
    const columns = getTableColumns(spec.table);
    const value = (name: string) => {
      const column = columns[name];
      return column ? sql.identifier(column.name) : sql`null::jsonb`;
    };
    const pairs = [
      ...spec.columns.map((c) => sql`${sql.raw(`'${c.name.replaceAll("'", "''")}'`)}, ${value(c.name)}`),
      sql`'version', ${value("version")}`,
      sql`'updated_at', to_char(${value("updated_at")} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    ];
    json = sql`jsonb_build_object(${sql.join(pairs, sql`, `)})`;
    rowJsons.set(spec, json);
  }
  return json;
}
