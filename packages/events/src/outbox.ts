import type { Database } from "@fig/db";
import { getTableColumns, type SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { definitionOf, type EventData, type EventType } from "./catalog.ts";
import { runStatement } from "./statement.ts";
import { subjectOf } from "./subjects.ts";
import { OUTBOX_CHANNEL } from "./tables.ts";

/**
 * A writer NOTIFYs the relay at most this often per publishing source. Postgres serializes the commits of all
 * notifying transactions (a cluster-wide lock held through the commit's WAL flush), which halved a writer's
 * throughput at 16 connections; the relay instead polls every few milliseconds for a second after it last sent
 * (its `busyPollMs` and `lingerMs`), so one NOTIFY per window keeps it awake under load. An event whose NOTIFY
 * was left out waits at most the relay's busy poll while it lingers, and its poll interval otherwise (when the
 * transaction that notified rolled back, or commits much later than the others).
 */
export const OUTBOX_NOTIFY_EVERY_MS = 100;

const notified = new WeakSet<object>();
const lastNotified = new Map<string, number>();

export type EnqueueOptions = {
  subject?: string;
  tenant?: string;
  traceparent?: string;
  /** The publishing service when it is not the catalog's owner (one of its `alsoPublishedBy`). */
  source?: string;
  /**
   * Stamps `data.sequence` with the outbox row's own `seq`, drawn by this insert: a change event's per-key
   * sequence (drawn after the write's row locks, so a later commit of a key has a larger one) without a
   * round trip of its own.
   */
  sequence?: boolean;
};

/** The fields of one outbox row, as written. */
type OutboxRow = {
  id: string;
  type: string;
  source: string;
  subject: string | null;
  tenant: string | null;
  traceparent: string | null;
  data: string;
  sequence: boolean;
};

/**
 * The next `seq`: the sequence by its name (a bigserial's, `<table>_<column>_seq`, which the services' migrations
 * grant by that name too), resolved once when the statement is prepared. `pg_get_serial_sequence('outbox', 'seq')`
 * found it again on every execution (a relation lookup and an index scan of pg_depend).
 */
const NEXT_SEQ = "nextval('outbox_seq_seq')";

/**
 * The outbox row in one statement (one round trip): the `seq` drawn first so `data.sequence` can carry it, and
 * the relay's NOTIFY on the same statement when this transaction has not sent it yet. `created_at` (the event's
 * time) is when the row is written, after the write took its locks, not when its transaction began: a write that
 * waited for a row lock did not happen before it got it, and the sync's lag (event time → applied) then starts
 * near the commit. Four fixed texts (sequence × notify), so the driver prepares each once per connection.
 */
const INSERT_TEXT = (sequence: boolean, notify: boolean) => `with s as (select ${NEXT_SEQ} as n),
    ins as (insert into outbox (id, seq, type, source, subject, tenant, traceparent, data, created_at)
      select $1::uuid, s.n, $2, $3, $4, $5, $6, ${sequence ? "$7::jsonb || jsonb_build_object('sequence', s.n)" : "$7::jsonb"},
        clock_timestamp()
      from s returning seq)
    ${notify ? `select pg_notify('${OUTBOX_CHANNEL}', '') from ins` : "select seq from ins"}`;
const INSERT_TEXTS = [
  INSERT_TEXT(false, false),
  INSERT_TEXT(false, true),
  INSERT_TEXT(true, false),
  INSERT_TEXT(true, true),
];

/**
 * Many outbox rows in one statement: the rows travel as one JSON array, and each draws its `seq` in the array's
 * order (the CTE is evaluated once, row by row, in `ordinality` order), so the events of one key keep the order
 * the writer gave them.
 */
const INSERT_MANY_TEXT = (notify: boolean) => `with e as (
      select x.e, ${NEXT_SEQ} as n
      from jsonb_array_elements($1::jsonb) with ordinality as x(e, ord) order by x.ord),
    ins as (insert into outbox (id, seq, type, source, subject, tenant, traceparent, data, created_at)
      select (e->>'id')::uuid, n, e->>'type', e->>'source', e->>'subject', e->>'tenant', e->>'traceparent',
        case when (e->>'sequence')::boolean then e->'data' || jsonb_build_object('sequence', n) else e->'data' end,
        clock_timestamp()
      from e returning seq)
    ${notify ? `select pg_notify('${OUTBOX_CHANNEL}', '') from ins limit 1` : "select count(*) from ins"}`;
const INSERT_MANY_TEXTS = [INSERT_MANY_TEXT(false), INSERT_MANY_TEXT(true)];

/** Validated against the catalog; throws for data the schema refuses, a missing tenant, or an unknown source. */
function outboxRowOf<T extends EventType>(type: T, data: EventData<T>, options: EnqueueOptions): OutboxRow {
  const definition = definitionOf(type);
  const parsed = definition.schema.parse(data);
  if (definition.tenantOwned && !options.tenant) throw new Error(`${type} is tenant-owned: pass the tenant`);
  const source = options.source ?? definition.source;
  subjectOf("-", type, source); // throws for a source the catalog does not name
  return {
    id: crypto.randomUUID(),
    type,
    source,
    subject: options.subject ?? null,
    tenant: options.tenant ?? null,
    traceparent: options.traceparent ?? null,
    data: JSON.stringify(parsed),
    sequence: options.sequence === true,
  };
}

/** The row's parameters in the order of the single-row statements' $1..$7 (INSERT_TEXT, enqueueWith's p(1)..p(7)). */
const rowParams = (row: OutboxRow) => [
  row.id,
  row.type,
  row.source,
  row.subject,
  row.tenant,
  row.traceparent,
  row.data,
];

/**
 * Delivered at commit, dropped on rollback: exactly the hint the relay needs. Once per transaction is enough,
 * and once per OUTBOX_NOTIFY_EVERY_MS from this process while the relay lingers.
 */
function shouldNotify(tx: Database, source: string): boolean {
  const now = performance.now();
  const notify =
    !notified.has(tx) &&
    now - (lastNotified.get(source) ?? Number.NEGATIVE_INFINITY) >= OUTBOX_NOTIFY_EVERY_MS;
  if (notify) {
    notified.add(tx);
    lastNotified.set(source, now);
  }
  return notify;
}

/**
 * Records an event in the outbox, inside the caller's transaction: it is published if and only if the
 * transaction commits. Data that fails the catalog schema throws (a programming error).
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await tx.insert(codes).values(row);
 *   await enqueueEvent(tx, "reference.changed", { table: "codes", op: "created", keys: [row.code], count: 1, truncated: false });
 * });
 */
export async function enqueueEvent<T extends EventType>(
  tx: Database,
  type: T,
  data: EventData<T>,
  options: EnqueueOptions = {},
): Promise<string> {
  const row = outboxRowOf(type, data, options);
  const notify = shouldNotify(tx, row.source);
  await runStatement(tx, INSERT_TEXTS[(row.sequence ? 2 : 0) + (notify ? 1 : 0)] as string, rowParams(row));
  return row.id;
}

/** One event of a batch for `enqueueEvents`: its data typed by its own `type`. */
export type EventToEnqueue = {
  [T in EventType]: { type: T; data: EventData<T>; options?: EnqueueOptions };
}[EventType];

/**
 * Records many events in the outbox in one statement, inside the caller's transaction, for writers that produce
 * a batch at once (an import, a backfill): each is validated as `enqueueEvent` does before anything is written
 * (one invalid event refuses the whole batch), and their `seq` follows the array's order. Returns the ids in
 * that order.
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await tx.insert(codes).values(rows);
 *   await enqueueEvents(tx, rows.map((r) => ({ type: "reference.changed", data: changedOf(r) })));
 * });
 */
export async function enqueueEvents(tx: Database, events: readonly EventToEnqueue[]): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = events.map((e) => outboxRowOf(e.type, e.data as never, e.options ?? {}));
  const notify = shouldNotify(tx, (rows[0] as OutboxRow).source);
  // `data` is already JSON text: spliced in as is rather than parsed and stringified again.
  const json = `[${rows
    .map(({ data, ...rest }) => `${JSON.stringify(rest).slice(0, -1)},"data":${data}}`)
    .join(",")}]`;
  await runStatement(tx, INSERT_MANY_TEXTS[notify ? 1 : 0] as string, [json]);
  return rows.map((r) => r.id);
}

/** A data-modifying statement with RETURNING, as drizzle builds it (`tx.insert(t).values(v).returning()`), or its SQL. */
export type WriteStatement = SQL | { getSQL(): SQL };

export type EnqueueWithOptions<T extends EventType> = EnqueueOptions & {
  /**
   * A field of `data` computed from the written rows in the same statement: `each` is a jsonb expression over one
   * row RETURNed by the write (its columns by their unqualified names, and constants: no parameters, so the
   * statement's text stays the same and is prepared once per connection), and the field becomes the array of those, in
   * the order the write returned its rows. `data` still carries a stand-in for it (an empty array, say), validated
   * with the rest before anything is written; the data as written is validated again, whole, before this returns.
   */
  fromRows?: { field: keyof EventData<T> & string; each: SQL };
  /** Maps the written rows to this table's properties and JS values, as drizzle's `.returning()` does. */
  table?: PgTable;
};

/** The column the combined statement adds to each written row: the event's data as written. */
const WRITTEN_EVENT = "__outbox_event";

type Dialect = { sqlToQuery(query: SQL): { sql: string; params: unknown[] } };

/**
 * A write and its event in one statement (one round trip, where `write` then `enqueueEvent` take two): the write
 * runs as a data-modifying CTE, and the outbox row is inserted from its RETURNING, so the event can carry what
 * only the database knows (a default, a version bumped in SQL, the row as deleted). The guarantees of
 * `enqueueEvent` hold:
 * - before anything is written: the type, tenant and source are checked and `data` (with the `fromRows` stand-in)
 *   is validated against the catalog, as `enqueueEvent` does;
 * - the event is written only when the write returned at least one row (an insert that conflicted, an update or
 *   delete that matched nothing leaves no event);
 * - `seq` (and `data.sequence` with `sequence: true`) is drawn after the write has locked every row it wrote: it
 *   is taken over an aggregate of the write's rows, which Postgres computes only once the write has returned them
 *   all;
 * - the data as written is validated against the catalog before this returns, inside the caller's transaction:
 *   data the schema refuses throws there, and the transaction rolls back with the write;
 * - the relay's NOTIFY follows the same rule as `enqueueEvent`.
 * On Postgres the statement runs through postgres.js as a prepared statement, on PGlite through drizzle, with the
 * same SQL. Returns the written rows (mapped to `table` when given) and the event's id (none when nothing was
 * written).
 *
 * @example
 * await db.transaction(async (tx) => {
 *   const { rows } = await enqueueWith(tx, tx.insert(codes).values(row).onConflictDoNothing().returning(),
 *     "reference.changed", { table: "codes", op: "created", keys: [row.code], count: 1, truncated: false, rows: [] },
 *     { fromRows: { field: "rows", each: sql`jsonb_build_object('code', code, 'version', version)` }, table: codes });
 * });
 */
export async function enqueueWith<T extends EventType>(
  tx: Database,
  write: WriteStatement,
  type: T,
  data: EventData<T>,
  options: EnqueueWithOptions<T> = {},
): Promise<{ rows: Record<string, unknown>[]; id: string | undefined }> {
  const row = outboxRowOf(type, data, options);
  const notify = shouldNotify(tx, row.source);
  const { fromRows, table } = options;
  const dialect = (tx as unknown as { dialect: Dialect }).dialect;
  // drizzle builds the write's text and parameters (as its own `.returning()` would); the rest is fixed text.
  const query = dialect.sqlToQuery("getSQL" in write ? write.getSQL() : write);
  const at = query.params.length;
  const p = (i: number) => `$${at + i}`;
  // The SQL-made fields in one concatenation (its right side's keys replace the left's), not a jsonb_set each.
  const made = [
    ...(fromRows ? [`'${fieldName(fromRows.field)}', s.d`] : []),
    ...(row.sequence ? ["'sequence', s.n"] : []),
  ];
  const written =
    made.length > 0 ? `${p(7)}::jsonb || jsonb_build_object(${made.join(", ")})` : `${p(7)}::jsonb`;
  const text = `with w as (${query.sql}),
    s as (select a.d, ${NEXT_SEQ} as n
      from (select ${fromRows ? `jsonb_agg(${eachText(dialect, fromRows.each)})` : "null::jsonb"} as d
        from w having count(*) > 0) a),
    e as (insert into outbox (id, seq, type, source, subject, tenant, traceparent, data, created_at)
      select ${p(1)}::uuid, s.n, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${written}, clock_timestamp()
      from s returning data${notify ? `, pg_notify('${OUTBOX_CHANNEL}', '')` : ""})
    select w.*, e.data as "${WRITTEN_EVENT}" from w, e`;
  const raw = await runStatement(tx, text, [...query.params, ...rowParams(row)]);
  const first = raw[0];
  if (!first) return { rows: [], id: undefined };
  const asWritten = first[WRITTEN_EVENT];
  const checked = definitionOf(type).schema.safeParse(
    typeof asWritten === "string" ? JSON.parse(asWritten) : asWritten,
  );
  if (!checked.success) {
    throw new Error(`${type} as written from the rows fails its catalog schema: ${checked.error.message}`);
  }
  return { rows: raw.map((r) => (table ? mapRow(table, r) : withoutEvent(r))), id: row.id };
}

function fieldName(field: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field))
    throw new Error(`fromRows.field must be a plain name: ${field}`);
  return field;
}

const eachTexts = new WeakMap<SQL, string>();

/** `each` as text, once per expression: columns and constants only, so the combined text is the same each time. */
function eachText(dialect: Dialect, each: SQL): string {
  let text = eachTexts.get(each);
  if (text === undefined) {
    const query = dialect.sqlToQuery(each);
    if (query.params.length > 0)
      throw new Error("fromRows.each takes no parameters: columns and constants only");
    text = query.sql;
    eachTexts.set(each, text);
  }
  return text;
}

function withoutEvent({ [WRITTEN_EVENT]: _event, ...row }: Record<string, unknown>): Record<string, unknown> {
  return row;
}

const tableColumns = new WeakMap<PgTable, [string, PgColumn][]>();

/** A driver row (column names, driver values) as drizzle maps a `.returning()` row: property names, JS values. */
function mapRow(table: PgTable, raw: Record<string, unknown>): Record<string, unknown> {
  let columns = tableColumns.get(table);
  if (!columns) {
    columns = Object.entries(getTableColumns(table));
    tableColumns.set(table, columns);
  }
  const row: Record<string, unknown> = {};
  for (const [key, column] of columns) {
    const value = raw[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row;
}
