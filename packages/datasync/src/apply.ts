import { type Database, rowsOf } from "@fig/db";
import { DATA_CHANGED_MAX_KEYS } from "@fig/events";
import { sql } from "drizzle-orm";
import {
  type Column,
  ident,
  keyOf,
  keySql,
  type ResolvedTable,
  type Row,
  writtenColumns,
} from "./declared-table.ts";

export type ChangeOp = "created" | "updated" | "deleted" | "imported";

/** One change as the owner published it: rows with their declared version (or updatedAt), ordered by `sequence`. */
export type IncomingChange = {
  origin: string;
  table: ResolvedTable;
  op: ChangeOp;
  rows: Row[];
  sequence: number;
  eventTime: Date;
};

/** A change this side applied, handed to the service to publish as its own event (one per table and op). */
export type AppliedChange = { table: string; op: ChangeOp; keys: string[]; rows: Row[] };

/** Records what the sync wrote, in the apply's transaction (the service's outbox): its consumers hear of it too. */
export type RepublishChange = (tx: Database, change: AppliedChange) => Promise<void>;

/** Fills what a row as published lacks and this side stores (a derived column), before it is written. */
export type PrepareRow = (table: string, row: Row) => Row;

export type ApplyOutcome = { applied: number; skipped: number };

export type ApplyHooks = { republish?: RepublishChange | undefined; prepareRow?: PrepareRow | undefined };

/**
 * Microseconds since the epoch of a Date or an ISO string: Postgres keeps microseconds and to_jsonb carries
 * them, so two writes of a row within one millisecond still order (a Date has milliseconds only).
 */
export function timeOf(value: unknown): number {
  if (value instanceof Date) return value.getTime() * 1000;
  const text = String(value);
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? "";
  return Date.parse(text.replace(/\.\d+/, "")) * 1000 + Number(`${fraction}000000`.slice(0, 6));
}

/** The value JSON carries for a column: times as ISO strings (jsonb_to_recordset reads them back). */
const jsonValue = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/** The version columns of two copies of a row agree: `version` as a number, `updatedAt` to the microsecond. */
function sameVersion(table: ResolvedTable, a: Row, b: Row) {
  return (
    (!table.version || Number(a[table.version]) === Number(b[table.version])) &&
    (!table.updatedAt || timeOf(a[table.updatedAt]) === timeOf(b[table.updatedAt]))
  );
}

/** `local` is newer than `incoming` by the declared version, else by updatedAt. */
function newer(table: ResolvedTable, local: Row, incoming: Row) {
  return table.version
    ? Number(local[table.version]) > Number(incoming[table.version])
    : timeOf(local[table.updatedAt as string]) > timeOf(incoming[table.updatedAt as string]);
}

/** `<expr> in (the keys)`, the keys as ONE jsonb parameter (any batch size, one statement). */
const inKeys = (expr: string, keys: string[]) =>
  sql`${sql.raw(expr)} in (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb))`;

/** `x("a" int4, "b" text, …)`: the record type jsonb_to_recordset reads the rows as. */
export const recordType = (columns: readonly Column[]) =>
  columns.map((c) => `${ident(c.name)} ${c.type}`).join(", ");

/** Every row in one statement: jsonb_to_recordset over the columns the rows carry, upsert on the key. */
async function upsertRows(tx: Database, table: ResolvedTable, rows: Row[]) {
  if (rows.length === 0) return;
  const columns = writtenColumns(table, rows);
  const names = columns.map((c) => ident(c.name)).join(", ");
  const data = columns.filter((c) => !table.key.includes(c.name)).map((c) => ident(c.name));
  const json = rows.map((r) =>
    Object.fromEntries(columns.map((c) => [c.name, jsonValue(r[c.name] ?? null)])),
  );
  const onConflict =
    data.length === 0 ? "do nothing" : `do update set ${data.map((n) => `${n} = excluded.${n}`).join(", ")}`;
  await tx.execute(
    sql`insert into ${sql.raw(ident(table.name))} (${sql.raw(names)}) select ${sql.raw(names)} from jsonb_to_recordset(${JSON.stringify(json)}::jsonb) as x(${sql.raw(recordType(columns))}) on conflict (${sql.raw(table.key.map(ident).join(", "))}) ${sql.raw(onConflict)}`,
  );
}

async function deleteKeys(tx: Database, table: ResolvedTable, keys: string[]) {
  if (keys.length === 0) return;
  await tx.execute(sql`delete from ${sql.raw(ident(table.name))} where ${inKeys(keySql(table), keys)}`);
}

/** The rows of `keys` here, locked, as JSON (the same form events carry). */
async function localRows(tx: Database, table: ResolvedTable, keys?: string[]): Promise<Map<string, Row>> {
  if (keys?.length === 0) return new Map();
  const where = keys ? sql` where ${inKeys(keySql(table, "t"), keys)}` : sql``;
  const found = rowsOf<{ r: Row | string }>(
    await tx.execute(sql`select to_jsonb(t) as r from ${sql.raw(ident(table.name))} t${where} for update`),
  ).map(({ r }) => (typeof r === "string" ? (JSON.parse(r) as Row) : r));
  return new Map(found.map((r) => [keyOf(table, r), r]));
}

async function watermarks(tx: Database, origin: string, table: ResolvedTable, keys: string[]) {
  if (keys.length === 0) return new Map<string, number>();
  const found = rowsOf<{ key: string; sequence: string | number }>(
    await tx.execute(
      sql`select key, sequence from sync_keys where origin = ${origin} and table_name = ${table.name} and ${inKeys("key", keys)} for update`,
    ),
  );
  return new Map(found.map((w) => [w.key, Number(w.sequence)]));
}

type Watermark = { key: string; sequence: number; version: number; deleted: boolean; eventTime: Date };

/** The watermark's `version`: the declared version, else 0 (updatedAt orders the rows then). */
const versionOf = (table: ResolvedTable, row: Row) => (table.version ? Number(row[table.version]) : 0);

/** Every key's watermark in one statement; a sequence never moves back (`greatest`). */
async function setWatermarks(tx: Database, origin: string, table: ResolvedTable, marks: Watermark[]) {
  if (marks.length === 0) return;
  const json = marks.map((m) => ({ ...m, eventTime: m.eventTime.toISOString() }));
  await tx.execute(sql`
    insert into sync_keys (origin, table_name, key, sequence, version, deleted, event_time, applied_at)
    select ${origin}, ${table.name}, x.key, x.sequence, x.version, x.deleted, x."eventTime", clock_timestamp()
    from jsonb_to_recordset(${JSON.stringify(json)}::jsonb)
      as x(key text, sequence bigint, version int4, deleted bool, "eventTime" timestamptz)
    on conflict (origin, table_name, key) do update set
      sequence = greatest(sync_keys.sequence, excluded.sequence), version = excluded.version,
      deleted = excluded.deleted, event_time = excluded.event_time, applied_at = excluded.applied_at`);
}

type Changed = { table: ResolvedTable; op: ChangeOp; key: string; row: Row };

/** What was written, republished as the service's own event: one per (table, op), at most the event's key limit. */
async function republish(tx: Database, hook: RepublishChange | undefined, changed: Changed[]) {
  if (!hook) return;
  const groups = new Map<string, Changed[]>();
  for (const c of changed) {
    const id = `${c.table.name}\u0000${c.op}`;
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  for (const group of groups.values())
    for (let i = 0; i < group.length; i += DATA_CHANGED_MAX_KEYS) {
      const part = group.slice(i, i + DATA_CHANGED_MAX_KEYS);
      const { table, op } = part[0] as Changed;
      await hook(tx, { table: table.name, op, keys: part.map((c) => c.key), rows: part.map((c) => c.row) });
    }
}

type Candidate = { op: ChangeOp; row: Row; sequence: number; eventTime: Date };

/**
 * Applies a batch of changes in the caller's transaction, set-based: per table, one locking read of the rows and
 * of their watermarks (`sync_keys`: last applied `sequence` per key from this origin), one upsert of every row that
 * changes, one delete, one watermark upsert, and the republish. Per key, exactly as if applied one by one in order:
 * - a change at or below the key's watermark is skipped (a replay, or a redelivery overtaken by a later change);
 * - of a key's several changes in the batch, the highest `sequence` wins (the others are overtaken: skipped);
 * - a key never seen from this origin (backfilled, seeded) takes the change unless its local version is newer;
 * - a change equal to the local row (same version and updatedAt) changes nothing and is not republished,
 *   which is what stops two replicas echoing each other's republished changes;
 * - a delete leaves a tombstone watermark, so an older create cannot bring the key back.
 * What changed is republished through `hooks.republish` (the service's own event, one per table and op).
 */
export async function applyIncomingChanges(
  tx: Database,
  changes: IncomingChange[],
  hooks: ApplyHooks = {},
): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { applied: 0, skipped: 0 };
  const tables = new Map<
    string,
    { origin: string; table: ResolvedTable; entries: (Candidate & { key: string })[] }
  >();
  for (const { origin, table, op, rows, sequence, eventTime } of changes) {
    const id = `${origin}\u0000${table.name}`;
    const group = tables.get(id) ?? { origin, table, entries: [] };
    tables.set(id, group);
    for (const raw of rows) {
      const row = hooks.prepareRow ? hooks.prepareRow(table.name, raw) : raw;
      group.entries.push({ key: keyOf(table, row), op, row, sequence, eventTime });
    }
  }
  const changed: Changed[] = [];
  for (const { origin, table, entries } of tables.values()) {
    const keys = [...new Set(entries.map((e) => e.key))];
    const [locals, marks] = [await localRows(tx, table, keys), await watermarks(tx, origin, table, keys)];
    const winners = new Map<string, Candidate>();
    for (const e of entries) {
      const mark = marks.get(e.key);
      const prev = winners.get(e.key);
      if ((mark !== undefined && mark >= e.sequence) || (prev && prev.sequence > e.sequence)) {
        outcome.skipped++;
        continue;
      }
      if (prev) outcome.skipped++;
      winners.set(e.key, e);
    }
    const upserts: Row[] = [];
    const deletes: string[] = [];
    const newMarks: Watermark[] = [];
    for (const [key, w] of winners) {
      const local = locals.get(key);
      const deleted = w.op === "deleted";
      const newerHere = !marks.has(key) && local !== undefined && newer(table, local, w.row);
      const noChange = deleted ? !local : local !== undefined && sameVersion(table, local, w.row);
      if (!newerHere && !noChange) {
        if (deleted) deletes.push(key);
        else upserts.push(w.row);
        changed.push({ table, op: w.op, key, row: deleted ? (local as Row) : w.row });
        outcome.applied++;
      } else outcome.skipped++;
      newMarks.push({
        key,
        sequence: w.sequence,
        version: versionOf(table, w.row),
        deleted,
        eventTime: w.eventTime,
      });
    }
    await deleteKeys(tx, table, deletes);
    await upsertRows(tx, table, upserts);
    await setWatermarks(tx, origin, table, newMarks);
  }
  await republish(tx, hooks.republish, changed);
  return outcome;
}

/** One change in the caller's transaction (`applyIncomingChanges` of one). */
export function applyIncomingChange(
  tx: Database,
  change: IncomingChange,
  hooks?: ApplyHooks,
): Promise<ApplyOutcome> {
  return applyIncomingChanges(tx, [change], hooks);
}

/**
 * Makes the local table equal to `snapshot` (the owner's whole table, read just before this transaction, so it
 * is newer than anything applied so far): rows that differ are written, rows the owner no longer has are
 * deleted. Used when an event is truncated or carries no rows. With a known `sequence`, the keys' watermarks
 * move up to it; changes committed later still apply after it.
 */
export async function applySnapshot(
  tx: Database,
  {
    origin,
    table,
    snapshot,
    sequence,
    eventTime,
  }: {
    origin: string;
    table: ResolvedTable;
    snapshot: Row[];
    sequence?: number | undefined;
    eventTime: Date;
  },
  hooks: ApplyHooks = {},
): Promise<ApplyOutcome> {
  const prepared = hooks.prepareRow
    ? snapshot.map((r) => hooks.prepareRow?.(table.name, r) as Row)
    : snapshot;
  const incoming = new Map(prepared.map((r) => [keyOf(table, r), r]));
  const local = await localRows(tx, table);
  const written: Row[] = [];
  const removed: Row[] = [];
  for (const [key, row] of incoming) {
    const mine = local.get(key);
    if (!mine || !sameVersion(table, mine, row)) written.push(row);
  }
  for (const [key, row] of local) if (!incoming.has(key)) removed.push(row);
  const keyOfRow = (r: Row) => keyOf(table, r);
  await upsertRows(tx, table, written);
  await deleteKeys(tx, table, removed.map(keyOfRow));
  if (sequence !== undefined) {
    const mark = (deleted: boolean) => (row: Row) => ({
      key: keyOfRow(row),
      sequence,
      version: versionOf(table, row),
      deleted,
      eventTime,
    });
    await setWatermarks(tx, origin, table, [...written.map(mark(false)), ...removed.map(mark(true))]);
  }
  await republish(tx, hooks.republish, [
    ...written.map((row) => ({ table, op: "imported" as const, key: keyOfRow(row), row })),
    ...removed.map((row) => ({ table, op: "deleted" as const, key: keyOfRow(row), row })),
  ]);
  return { applied: written.length + removed.length, skipped: incoming.size - written.length };
}
