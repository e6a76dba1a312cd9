import { type Database, rowsOf } from "@fig/db";
import type { EventType } from "@fig/events";
import { type SQL, sql } from "drizzle-orm";
import { recordType } from "./apply.ts";
import {
  type DeclaredTable,
  ident,
  KEY_SEPARATOR,
  keyOf,
  keySql,
  orderingColumn,
  type ResolvedTable,
  type Row,
  resolveTables,
  writtenColumns,
} from "./declared-table.ts";
import { createChangeRecorder, type RecordDataChange } from "./publish.ts";
import type { BackfillCheckpoint, DatasyncState } from "./state.ts";

/** `(k1, k2) <op> (after's parts, each cast to its column's type)`: keyset comparison in the key's index order. */
function keyCompare(table: ResolvedTable, op: ">" | "<=", key: string): SQL {
  const parts = table.key.length === 1 ? [key] : key.split(KEY_SEPARATOR);
  const typeOf = (c: string) => table.stored.find((s) => s.name === c)?.type ?? "text";
  const values = table.key.map((c, i) => sql`${parts[i] ?? ""}::${sql.raw(typeOf(c))}`);
  return sql`(${sql.raw(table.key.map(ident).join(", "))}) ${sql.raw(op)} (${sql.join(values, sql`, `)})`;
}

/** `select to_jsonb(…) as r` rows, as JSON either driver hands back. */
const jsonRows = (result: unknown): Row[] =>
  rowsOf<{ r: Row | string }>(result).map(({ r }) => (typeof r === "string" ? (JSON.parse(r) as Row) : r));

/**
 * One page of the owner's table after `after`, in key order (the key's index, so a page costs its own rows, not
 * a sort of the table). Both sides must order keys alike: `backfill` checks the databases' collations.
 */
export async function ownerPage(
  db: Database,
  table: ResolvedTable,
  after: string | null,
  limit: number,
): Promise<Row[]> {
  const where = after === null ? sql`` : sql` where ${keyCompare(table, ">", after)}`;
  // As JSON: dates stay ISO strings on either driver (the same form events carry).
  return jsonRows(
    await db.execute(
      sql`select to_jsonb(t) as r from ${sql.raw(ident(table.name))} t${where} order by ${sql.raw(table.key.map(ident).join(", "))} limit ${limit}`,
    ),
  );
}

export type PageOutcome = { written: number; deleted: number; kept: number; events: number };

/**
 * Writes one page of the owner's rows on the candidate, in one statement each for upserts and deletes:
 * - a key the live sync has already applied from the owner (it has a watermark) is left to the sync, which is
 *   at least as new (every committed change reaches it, in order);
 * - otherwise the owner's row wins unless the candidate's version (or updatedAt) is newer; an identical row is
 *   not rewritten;
 * - candidate keys inside the page's key range that the owner does not have are deleted (same watermark rule).
 * Every column both sides have is copied (derived ones too). Running a page twice changes nothing the second
 * time: the backfill is idempotent. With `record`, what the page changed is recorded in the same transaction as
 * the candidate's own change events (`imported`, `deleted`), as the live sync republishes what it applies, so
 * whatever follows them there (a read cache) hears of it; a page that changed nothing records nothing.
 */
export async function writePage(
  candidate: Database,
  table: ResolvedTable,
  {
    origin,
    rows,
    after,
    last,
    record,
  }: { origin: string; rows: Row[]; after: string | null; last: string | null; record?: RecordDataChange },
): Promise<PageOutcome> {
  // The columns both sides have: a candidate-only column keeps its default (or its value, on an update).
  const columns = writtenColumns(table, rows);
  const name = ident(table.name);
  const names = columns.map((c) => ident(c.name));
  const data = columns.filter((c) => !table.key.includes(c.name)).map((c) => ident(c.name));
  const order = ident(orderingColumn(table));
  const stored = rows.map((r) => Object.fromEntries(columns.map((c) => [c.name, r[c.name] ?? null])));
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const unsynced = (k: string) =>
    `not exists (select 1 from sync_keys s where s.origin = ${literal(origin)} ` +
    `and s.table_name = ${literal(table.name)} and s.key = ${k})`;
  return candidate.transaction(async (tx) => {
    let written: Row[] = [];
    if (stored.length > 0) {
      const update =
        data.length === 0
          ? "do nothing"
          : `do update set ${data.map((n) => `${n} = excluded.${n}`).join(", ")} ` +
            `where ${name}.${order} <= excluded.${order} and (${data.map((n) => `${name}.${n}`).join(", ")}) ` +
            `is distinct from (${data.map((n) => `excluded.${n}`).join(", ")})`;
      const upsert =
        `insert into ${name} (${names.join(", ")}) select ${names.join(", ")} from jsonb_to_recordset(` +
        `$1::jsonb) as x(${recordType(columns)}) where ${unsynced(keySql(table, "x"))} ` +
        `on conflict (${table.key.map(ident).join(", ")}) ${update} returning to_jsonb(${name}.*) as r`;
      const [head, tail] = upsert.split("$1") as [string, string];
      written = jsonRows(await tx.execute(sql`${sql.raw(head)}${JSON.stringify(stored)}${sql.raw(tail)}`));
    }
    const keys = rows.map((r) => keyOf(table, r));
    const range = [
      after === null ? sql`true` : keyCompare(table, ">", after),
      last === null ? sql`true` : keyCompare(table, "<=", last),
    ];
    // Returned as they were, as a delete's event carries them.
    const deleted = jsonRows(
      await tx.execute(
        sql`delete from ${sql.raw(name)} where ${range[0]} and ${range[1]} and ${sql.raw(keySql(table))} not in (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb)) and ${sql.raw(unsynced(keySql(table, name)))} returning to_jsonb(${sql.raw(name)}.*) as r`,
      ),
    );
    let events = 0;
    for (const [op, changed] of [
      ["imported", written],
      ["deleted", deleted],
    ] as const) {
      if (!record || changed.length === 0) continue;
      // Above the event's key limit the recorder sends a keyless (truncated) event: readers drop the table.
      await record(tx, { table: table.name, op, rows: changed });
      events++;
    }
    return { written: written.length, deleted: deleted.length, kept: stored.length - written.length, events };
  });
}

export type BackfillProgress = {
  table: string;
  copied: number;
  total: number;
  rowsPerSecond: number;
  etaSeconds: number | null;
};

export type BackfillOptions = {
  route: string;
  owner: { name: string; db: Database };
  candidate: { name: string; db: Database };
  tables: readonly DeclaredTable[];
  /** The route's change event (`fig.data.event`): what the candidate's pages are recorded as in its outbox. */
  event?: EventType;
  state: DatasyncState;
  batch: number;
  onProgress?: (p: BackfillProgress) => void;
  /** Called after each committed page (tests and the crash bench interrupt here). */
  afterPage?: (checkpoint: BackfillCheckpoint) => Promise<void> | void;
};

export type BackfillResult = {
  resumed: boolean;
  tables: {
    table: string;
    rows: number;
    written: number;
    deleted: number;
    events: number;
    seconds: number;
  }[];
  rowsPerSecond: number;
  /** Whether the candidate has an outbox to record its change events in (without one, nothing there hears them). */
  outbox: boolean;
};

async function hasOutbox(db: Database) {
  const [row] = rowsOf<{ ok: boolean }>(
    await db.execute(sql`select to_regclass('outbox') is not null as ok`),
  );
  return row?.ok === true;
}

async function collationOf(db: Database) {
  const [row] = rowsOf<{ c: string }>(
    await db.execute(sql`select datcollate as c from pg_database where datname = current_database()`),
  );
  return row?.c ?? "";
}

async function countRows(db: Database, table: DeclaredTable) {
  const [row] = rowsOf<{ n: number }>(
    await db.execute(sql.raw(`select count(*)::int as n from ${ident(table.name)}`)),
  );
  return Number(row?.n ?? 0);
}

/**
 * Copies the owner's tables into the candidate page by page (keyset pagination on the key), saving a checkpoint
 * (table, last key) in NATS KV after every committed page. Killed and run again, it resumes after the last
 * checkpoint; every page is idempotent (see writePage), so the worst a crash costs is one page done twice.
 */
export async function backfill({
  route,
  owner,
  candidate,
  tables: declared,
  event = "data.changed",
  state,
  batch,
  onProgress,
  afterPage,
}: BackfillOptions): Promise<BackfillResult> {
  const specs = await resolveTables(candidate.db, declared, candidate.name);
  await resolveTables(owner.db, declared, owner.name);
  const [ownerCollation, candidateCollation] = [await collationOf(owner.db), await collationOf(candidate.db)];
  if (ownerCollation !== candidateCollation)
    throw new Error(
      `the databases order keys differently (collation ${ownerCollation} vs ${candidateCollation}); keyset pages need the same order`,
    );
  // The candidate's pages reach its own change events, as the live sync's applied changes do.
  const outbox = await hasOutbox(candidate.db);
  const record = outbox
    ? createChangeRecorder({ source: candidate.name, tables: declared, event })
    : undefined;
  const saved = await state.checkpoint(route);
  const resumable = saved && saved.owner === owner.name && saved.candidate === candidate.name;
  // No key left after rows were copied: that table's last page committed before the next table was named.
  const finished = resumable && saved.after === null && saved.copied > 0;
  const savedAt = resumable ? specs.findIndex((s) => s.name === saved.table) : -1;
  const startAt = savedAt < 0 ? 0 : savedAt + (finished ? 1 : 0);
  const startedAt = resumable ? saved.startedAt : new Date().toISOString();
  const tables: BackfillResult["tables"] = [];
  const began = performance.now();
  let rowsTotal = 0;
  // The whole route's progress: tables before the resumed one count as done.
  const totals = await Promise.all(specs.map((s) => countRows(owner.db, s)));
  const routeTotal = totals.reduce((a, b) => a + b, 0);
  let doneBefore = totals.slice(0, startAt).reduce((a, b) => a + b, 0);
  for (const spec of specs.slice(startAt)) {
    const tableStart = performance.now();
    const total = totals[specs.indexOf(spec)] ?? 0;
    let after = resumable && saved.table === spec.name ? saved.after : null;
    let copied = resumable && saved.table === spec.name ? saved.copied : 0;
    const copiedAtStart = copied;
    let written = 0;
    let deleted = 0;
    let events = 0;
    for (;;) {
      const rows = await ownerPage(owner.db, spec, after, batch);
      const last = rows.length < batch ? null : keyOf(spec, rows.at(-1) as Row);
      const outcome = await writePage(candidate.db, spec, {
        origin: owner.name,
        rows,
        after,
        last,
        ...(record ? { record } : {}),
      });
      written += outcome.written;
      deleted += outcome.deleted;
      events += outcome.events;
      copied += rows.length;
      rowsTotal += rows.length;
      const seconds = (performance.now() - tableStart) / 1000;
      const rate = (copied - copiedAtStart) / Math.max(seconds, 1e-3);
      const checkpoint: BackfillCheckpoint = {
        owner: owner.name,
        candidate: candidate.name,
        table: spec.name,
        after: last,
        copied,
        startedAt,
        updatedAt: new Date().toISOString(),
        done: Math.min(routeTotal, doneBefore + copied),
        total: routeTotal,
        rowsPerSecond: rowsTotal / Math.max((performance.now() - began) / 1000, 1e-3),
      };
      await state.saveCheckpoint(route, checkpoint);
      onProgress?.({
        table: spec.name,
        copied,
        total,
        rowsPerSecond: rate,
        etaSeconds: rate > 0 ? Math.max(0, (total - copied) / rate) : null,
      });
      await afterPage?.(checkpoint);
      if (last === null) break;
      after = last;
    }
    tables.push({
      table: spec.name,
      rows: copied,
      written,
      deleted,
      events,
      seconds: (performance.now() - tableStart) / 1000,
    });
    doneBefore += total;
    // The next table starts from its beginning: the checkpoint names it with no key yet.
    const next = specs[specs.indexOf(spec) + 1];
    if (next)
      await state.saveCheckpoint(route, {
        owner: owner.name,
        candidate: candidate.name,
        table: next.name,
        after: null,
        copied: 0,
        startedAt,
        updatedAt: new Date().toISOString(),
        done: Math.min(routeTotal, doneBefore),
        total: routeTotal,
      });
  }
  await state.clearCheckpoint(route);
  const seconds = (performance.now() - began) / 1000;
  return {
    resumed: Boolean(resumable),
    tables,
    rowsPerSecond: rowsTotal / Math.max(seconds, 1e-3),
    outbox,
  };
}
