import { type Database, rowsOf } from "@fig/db";
import { REFERENCE_CHANGED_MAX_KEYS } from "@fig/events";
import { type RecordChange, type ResourceSpec, type Row, searchTextOf } from "@fig/reference";
import { getTableName, type SQL, sql } from "drizzle-orm";
import { ident, storedColumns } from "./columns.ts";

export type ChangeOp = "created" | "updated" | "deleted" | "imported";

/** One change as the owner published it, rows with `version` and `updated_at`, ordered by `sequence`. */
export type IncomingChange = {
  origin: string;
  spec: ResourceSpec;
  op: ChangeOp;
  rows: Row[];
  sequence: number;
  eventTime: Date;
};

export type ApplyOutcome = { applied: number; skipped: number };

/** Milliseconds since the epoch of a Date or an ISO string (`String(date)` would drop the milliseconds). */
const timeOf = (value: unknown) => (value instanceof Date ? value : new Date(String(value))).getTime();

/** The row as this database stores it, from an event's or an API's JSON (dates as ISO strings). */
export function storedRowOf(spec: ResourceSpec, row: Row): Row {
  const out: Row = {};
  for (const c of spec.columns) out[c.name] = row[c.name] ?? null;
  out.version = Number(row.version);
  out.updated_at = new Date(timeOf(row.updated_at));
  out.search_text = searchTextOf(spec, out);
  return out;
}

const isoOf = (value: unknown) => (value instanceof Date ? value : new Date(String(value))).toISOString();

const sameBookkeeping = (local: Row, incoming: Row) =>
  Number(local.version) === Number(incoming.version) &&
  timeOf(local.updated_at) === timeOf(incoming.updated_at);

/** `<expr> in (the keys)`, the keys as ONE jsonb parameter (any batch size, one statement). */
const inKeys = (expr: SQL, keys: string[]) =>
  sql`${expr} in (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb))`;

/** Every row in one statement: jsonb_to_recordset over the stored columns, upsert on the key. */
async function upsertRows(tx: Database, spec: ResourceSpec, rows: Row[]) {
  if (rows.length === 0) return;
  const columns = storedColumns(spec);
  const names = columns.map((c) => ident(c.name)).join(", ");
  const data = columns.filter((c) => c.name !== spec.key).map((c) => ident(c.name));
  const json = rows.map((r) => ({ ...r, updated_at: isoOf(r.updated_at) }));
  await tx.execute(
    sql`insert into ${sql.raw(ident(getTableName(spec.table)))} (${sql.raw(names)}) select ${sql.raw(names)} from jsonb_to_recordset(${JSON.stringify(json)}::jsonb) as x(${sql.raw(columns.map((c) => `${ident(c.name)} ${c.type}`).join(", "))}) on conflict (${sql.raw(ident(spec.key))}) do update set ${sql.raw(data.map((n) => `${n} = excluded.${n}`).join(", "))}`,
  );
}

async function deleteKeys(tx: Database, spec: ResourceSpec, keys: string[]) {
  if (keys.length === 0) return;
  await tx.execute(
    sql`delete from ${sql.raw(ident(getTableName(spec.table)))} where ${inKeys(sql.raw(ident(spec.key)), keys)}`,
  );
}

async function localRows(tx: Database, spec: ResourceSpec, keys: string[]): Promise<Map<string, Row>> {
  if (keys.length === 0) return new Map();
  const found = (await tx
    .select()
    .from(spec.table)
    .where(inKeys(sql`${spec.keyColumn}`, keys))
    .for("update")) as Row[];
  return new Map(found.map((r) => [String(r[spec.key]), r]));
}

async function watermarks(tx: Database, origin: string, spec: ResourceSpec, keys: string[]) {
  if (keys.length === 0) return new Map<string, number>();
  const found = rowsOf<{ key: string; sequence: string | number }>(
    await tx.execute(
      sql`select key, sequence from sync_keys where origin = ${origin} and table_name = ${spec.resource} and ${inKeys(sql`key`, keys)} for update`,
    ),
  );
  return new Map(found.map((w) => [w.key, Number(w.sequence)]));
}

type Watermark = { key: string; sequence: number; version: number; deleted: boolean; eventTime: Date };

/** Every key's watermark in one statement; a sequence never moves back (`greatest`). */
async function setWatermarks(tx: Database, origin: string, spec: ResourceSpec, marks: Watermark[]) {
  if (marks.length === 0) return;
  const json = marks.map((m) => ({ ...m, eventTime: m.eventTime.toISOString() }));
  await tx.execute(sql`
    insert into sync_keys (origin, table_name, key, sequence, version, deleted, event_time, applied_at)
    select ${origin}, ${spec.resource}, x.key, x.sequence, x.version, x.deleted, x."eventTime", clock_timestamp()
    from jsonb_to_recordset(${JSON.stringify(json)}::jsonb)
      as x(key text, sequence bigint, version int4, deleted bool, "eventTime" timestamptz)
    on conflict (origin, table_name, key) do update set
      sequence = greatest(sync_keys.sequence, excluded.sequence), version = excluded.version,
      deleted = excluded.deleted, event_time = excluded.event_time, applied_at = excluded.applied_at`);
}

/** What was written, republished as the service's own event: one per (table, op), at most the event's key limit. */
async function republish(tx: Database, recordChange: RecordChange | undefined, changed: Changed[]) {
  if (!recordChange) return;
  const groups = new Map<string, Changed[]>();
  for (const c of changed) {
    const id = `${c.spec.resource}\u0000${c.op}`;
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  for (const group of groups.values())
    for (let i = 0; i < group.length; i += REFERENCE_CHANGED_MAX_KEYS) {
      const part = group.slice(i, i + REFERENCE_CHANGED_MAX_KEYS);
      const { spec, op } = part[0] as Changed;
      await recordChange(tx, { spec, op, keys: part.map((c) => c.key), rows: part.map((c) => c.row) });
    }
}

type Changed = { spec: ResourceSpec; op: ChangeOp; key: string; row: Row };
type Candidate = { op: ChangeOp; row: Row; sequence: number; eventTime: Date };

/**
 * Applies a batch of changes in the caller's transaction, set-based: per table, one locking read of the rows and
 * of their watermarks (`sync_keys`: last applied `sequence` per key from this origin), one upsert of every row that
 * changes, one delete, one watermark upsert, and the republish. Per key, exactly as if applied one by one in order:
 * - a change at or below the key's watermark is skipped (a replay, or a redelivery overtaken by a later change);
 * - of a key's several changes in the batch, the highest `sequence` wins (the others are overtaken: skipped);
 * - a key never seen from this origin (backfilled, seeded) takes the change unless its local `version` is newer;
 * - a change equal to the local row (same version and updated_at) changes nothing and is not republished,
 *   which is what stops two replicas echoing each other's republished changes;
 * - a delete leaves a tombstone watermark, so an older create cannot bring the key back.
 * What changed is republished through `recordChange` (the service's own event, one per table and op), so the
 * service's own consumers (validation's read model follows reference-data) hear about it too.
 */
export async function applyIncomingChanges(
  tx: Database,
  changes: IncomingChange[],
  recordChange?: RecordChange,
): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { applied: 0, skipped: 0 };
  const tables = new Map<
    string,
    { origin: string; spec: ResourceSpec; entries: (Candidate & { key: string })[] }
  >();
  for (const { origin, spec, op, rows, sequence, eventTime } of changes) {
    const id = `${origin}\u0000${spec.resource}`;
    const table = tables.get(id) ?? { origin, spec, entries: [] };
    tables.set(id, table);
    for (const raw of rows) {
      const row = storedRowOf(spec, raw);
      table.entries.push({ key: String(row[spec.key]), op, row, sequence, eventTime });
    }
  }
  const changed: Changed[] = [];
  for (const { origin, spec, entries } of tables.values()) {
    const keys = [...new Set(entries.map((e) => e.key))];
    const [locals, marks] = [await localRows(tx, spec, keys), await watermarks(tx, origin, spec, keys)];
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
      const newerHere = !marks.has(key) && local && Number(local.version) > Number(w.row.version);
      const noChange = deleted ? !local : local !== undefined && sameBookkeeping(local, w.row);
      if (!newerHere && !noChange) {
        if (deleted) deletes.push(key);
        else upserts.push(w.row);
        changed.push({ spec, op: w.op, key, row: deleted ? (local as Row) : w.row });
        outcome.applied++;
      } else outcome.skipped++;
      newMarks.push({
        key,
        sequence: w.sequence,
        version: Number(w.row.version),
        deleted,
        eventTime: w.eventTime,
      });
    }
    await deleteKeys(tx, spec, deletes);
    await upsertRows(tx, spec, upserts);
    await setWatermarks(tx, origin, spec, newMarks);
  }
  await republish(tx, recordChange, changed);
  return outcome;
}

/** One change in the caller's transaction (`applyIncomingChanges` of one). */
export function applyIncomingChange(
  tx: Database,
  change: IncomingChange,
  recordChange?: RecordChange,
): Promise<ApplyOutcome> {
  return applyIncomingChanges(tx, [change], recordChange);
}

/**
 * Makes the local table equal to `snapshot` (the owner's whole table, read through its API just before this
 * transaction, so it is newer than anything applied so far): rows that differ are written, rows the owner no
 * longer has are deleted. Used when an event is truncated or carries no rows. With a known `sequence`, the
 * keys' watermarks move up to it; changes committed later still apply after it.
 */
export async function applySnapshot(
  tx: Database,
  {
    origin,
    spec,
    snapshot,
    sequence,
    eventTime,
  }: { origin: string; spec: ResourceSpec; snapshot: Row[]; sequence?: number | undefined; eventTime: Date },
  recordChange?: RecordChange,
): Promise<ApplyOutcome> {
  const incoming = new Map(snapshot.map((r) => [String(r[spec.key]), storedRowOf(spec, r)]));
  const local = new Map(
    ((await tx.select().from(spec.table).for("update")) as Row[]).map((r) => [String(r[spec.key]), r]),
  );
  const written: Row[] = [];
  const removed: Row[] = [];
  for (const [key, row] of incoming) {
    const mine = local.get(key);
    if (!mine || !sameBookkeeping(mine, row)) written.push(row);
  }
  for (const [key, row] of local) if (!incoming.has(key)) removed.push(row);
  const keyOf = (r: Row) => String(r[spec.key]);
  await upsertRows(tx, spec, written);
  await deleteKeys(tx, spec, removed.map(keyOf));
  if (sequence !== undefined) {
    const mark = (deleted: boolean) => (row: Row) => ({
      key: keyOf(row),
      sequence,
      version: Number(row.version),
      deleted,
      eventTime,
    });
    await setWatermarks(tx, origin, spec, [...written.map(mark(false)), ...removed.map(mark(true))]);
  }
  await republish(tx, recordChange, [
    ...written.map((row) => ({ spec, op: "imported" as const, key: keyOf(row), row })),
    ...removed.map((row) => ({ spec, op: "deleted" as const, key: keyOf(row), row })),
  ]);
  return { applied: written.length + removed.length, skipped: incoming.size - written.length };
}
