import { type Database, rowsOf } from "@fig/db";
import { DATA_CHANGED_MAX_KEYS } from "@fig/events";
import { type SQL, sql } from "drizzle-orm";
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

/**
 * `<the key> = any(the keys)`, the keys as ONE jsonb parameter (any batch size, one statement), made an array
 * first: the planner then looks each key up in the key's index, where `in (select …)` over the set (estimated at
 * 100 rows whatever its size) hashes it and reads the whole table. A one-column key is compared as its own type
 * (a uuid key keeps its index); a composite key as its joined text.
 */
function inKeys(table: ResolvedTable | "sync_keys", keys: string[], alias?: string) {
  const array = sql`array(select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb))`;
  if (table === "sync_keys") return sql`key = any(${array})`;
  const [only] = table.key;
  const column = table.stored.find((c) => c.name === only);
  if (table.key.length !== 1 || !column) return sql`${sql.raw(keySql(table, alias))} = any(${array})`;
  const name = `${alias ? `${alias}.` : ""}${ident(column.name)}`;
  return sql`${sql.raw(name)} = any(${array}::${sql.raw(column.type)}[])`;
}

/** `x("a" int4, "b" text, …)`: the record type jsonb_to_recordset reads the rows as. */
export const recordType = (columns: readonly Column[]) =>
  columns.map((c) => `${ident(c.name)} ${c.type}`).join(", ");

/** Every row in one statement: jsonb_to_recordset over the columns the rows carry, upsert on the key. */
function upsertRows(table: ResolvedTable, rows: Row[]): SQL | undefined {
  if (rows.length === 0) return undefined;
  const columns = writtenColumns(table, rows);
  const names = columns.map((c) => ident(c.name)).join(", ");
  const data = columns.filter((c) => !table.key.includes(c.name)).map((c) => ident(c.name));
  const json = rows.map((r) =>
    Object.fromEntries(columns.map((c) => [c.name, jsonValue(r[c.name] ?? null)])),
  );
  const onConflict =
    data.length === 0 ? "do nothing" : `do update set ${data.map((n) => `${n} = excluded.${n}`).join(", ")}`;
  return sql`insert into ${sql.raw(ident(table.name))} (${sql.raw(names)}) select ${sql.raw(names)} from jsonb_to_recordset(${JSON.stringify(json)}::jsonb) as x(${sql.raw(recordType(columns))}) on conflict (${sql.raw(table.key.map(ident).join(", "))}) ${sql.raw(onConflict)}`;
}

function deleteKeys(table: ResolvedTable, keys: string[]): SQL | undefined {
  if (keys.length === 0) return undefined;
  return sql`delete from ${sql.raw(ident(table.name))} where ${inKeys(table, keys)}`;
}

/**
 * The writes in one statement (one round trip): each as a data-modifying CTE, which Postgres runs exactly once
 * whether or not it is read. They never touch one row twice (a key is deleted or upserted, its watermark is in
 * `sync_keys`), the one thing a single statement may not do.
 */
async function writeAll(tx: Database, writes: (SQL | undefined)[]) {
  const parts = writes.filter((w): w is SQL => w !== undefined);
  if (parts.length === 0) return;
  if (parts.length === 1) {
    await tx.execute(parts[0] as SQL);
    return;
  }
  const ctes = sql.join(
    parts.map((part, i) => sql`${sql.raw(`w${i}`)} as (${part})`),
    sql`, `,
  );
  await tx.execute(sql`with ${ctes} select 1`);
}

const jsonOf = <T>(value: unknown): T => (typeof value === "string" ? JSON.parse(value) : value) as T;

/** Local rows and watermarks of some keys, per table, all locked: what one batch decides on. */
type LocalState = { locals: Map<string, Row>; marks: Map<string, number> };

/**
 * For each group, the rows of its keys here (as JSON, the form events carry) and their watermarks
 * (`sync_keys`: last applied `sequence` per key from that origin), locked, in one statement for all groups.
 */
async function readLocalState(
  tx: Database,
  groups: { origin: string; table: ResolvedTable; keys: string[] }[],
): Promise<LocalState[]> {
  if (groups.length === 0) return [];
  const columns = groups.map(
    ({ origin, table, keys }, i) => sql`(select coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb)
      from (select * from ${sql.raw(ident(table.name))} x where ${inKeys(table, keys, "x")} for update) t) as ${sql.raw(`r${i}`)},
    (select coalesce(jsonb_agg(jsonb_build_array(t.key, t.sequence)), '[]'::jsonb)
      from (select key, sequence from sync_keys
        where origin = ${origin} and table_name = ${table.name} and ${inKeys("sync_keys", keys)} for update) t) as ${sql.raw(`m${i}`)}`,
  );
  const [row] = rowsOf<Record<string, unknown>>(await tx.execute(sql`select ${sql.join(columns, sql`, `)}`));
  return groups.map(({ table }, i) => ({
    locals: new Map(jsonOf<Row[]>(row?.[`r${i}`]).map((r) => [keyOf(table, r), r])),
    marks: new Map(
      jsonOf<[string, string | number][]>(row?.[`m${i}`]).map(([key, sequence]) => [key, Number(sequence)]),
    ),
  }));
}

/** The rows of `keys` here (every row without keys), locked, as JSON (the same form events carry). */
async function localRows(tx: Database, table: ResolvedTable, keys?: string[]): Promise<Map<string, Row>> {
  if (keys?.length === 0) return new Map();
  const where = keys ? sql` where ${inKeys(table, keys, "t")}` : sql``;
  const found = rowsOf<{ r: Row | string }>(
    await tx.execute(sql`select to_jsonb(t) as r from ${sql.raw(ident(table.name))} t${where} for update`),
  ).map(({ r }) => jsonOf<Row>(r));
  return new Map(found.map((r) => [keyOf(table, r), r]));
}

type Watermark = { key: string; sequence: number; version: number; deleted: boolean; eventTime: Date };

/** The watermark's `version`: the declared version, else 0 (updatedAt orders the rows then). */
const versionOf = (table: ResolvedTable, row: Row) => (table.version ? Number(row[table.version]) : 0);

/** Every key's watermark in one statement; a sequence never moves back (`greatest`). */
function setWatermarks(origin: string, table: ResolvedTable, marks: Watermark[]): SQL | undefined {
  if (marks.length === 0) return undefined;
  const json = marks.map((m) => ({ ...m, eventTime: m.eventTime.toISOString() }));
  return sql`
    insert into sync_keys (origin, table_name, key, sequence, version, deleted, event_time, applied_at)
    select ${origin}, ${table.name}, x.key, x.sequence, x.version, x.deleted, x."eventTime", clock_timestamp()
    from jsonb_to_recordset(${JSON.stringify(json)}::jsonb)
      as x(key text, sequence bigint, version int4, deleted bool, "eventTime" timestamptz)
    on conflict (origin, table_name, key) do update set
      sequence = greatest(sync_keys.sequence, excluded.sequence), version = excluded.version,
      deleted = excluded.deleted, event_time = excluded.event_time, applied_at = excluded.applied_at`;
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
 * Applies a batch of changes in the caller's transaction, set-based and in two statements whatever the tables:
 * one locking read of the rows and of their watermarks (`sync_keys`: last applied `sequence` per key from this
 * origin), one write (per table an upsert of every row that changes, a delete, a watermark upsert), then the
 * republish. Per key, exactly as if applied one by one in order:
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
  const groups = [...tables.values()].map((g) => ({ ...g, keys: [...new Set(g.entries.map((e) => e.key))] }));
  const states = await readLocalState(tx, groups);
  const writes: (SQL | undefined)[] = [];
  for (const [i, { origin, table, entries }] of groups.entries()) {
    const { locals, marks } = states[i] as LocalState;
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
    writes.push(
      deleteKeys(table, deletes),
      upsertRows(table, upserts),
      setWatermarks(origin, table, newMarks),
    );
  }
  await writeAll(tx, writes);
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
  const mark = (deleted: boolean) => (row: Row) => ({
    key: keyOfRow(row),
    sequence: sequence as number,
    version: versionOf(table, row),
    deleted,
    eventTime,
  });
  await writeAll(tx, [
    upsertRows(table, written),
    deleteKeys(table, removed.map(keyOfRow)),
    sequence === undefined
      ? undefined
      : setWatermarks(origin, table, [...written.map(mark(false)), ...removed.map(mark(true))]),
  ]);
  await republish(tx, hooks.republish, [
    ...written.map((row) => ({ table, op: "imported" as const, key: keyOfRow(row), row })),
    ...removed.map((row) => ({ table, op: "deleted" as const, key: keyOfRow(row), row })),
  ]);
  return { applied: written.length + removed.length, skipped: incoming.size - written.length };
}
