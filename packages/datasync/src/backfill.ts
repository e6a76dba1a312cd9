import { type Database, rowsOf } from "@fig/db";
import type { ResourceSpec, Row } from "@fig/reference";
import { getTableName, sql } from "drizzle-orm";
import { storedRowOf } from "./apply.ts";
import { ident, storedColumns } from "./columns.ts";
import type { BackfillCheckpoint, DatasyncState } from "./state.ts";

/**
 * One page of the owner's table after `after`, in key order (the primary key's index, so a page costs its own
 * rows, not a sort of the table). Both sides must order keys alike: `backfill` checks the databases' collations.
 */
export async function ownerPage(
  db: Database,
  spec: ResourceSpec,
  after: string | null,
  limit: number,
): Promise<Row[]> {
  const table = ident(getTableName(spec.table));
  const key = ident(spec.key);
  const where = after === null ? sql`` : sql` where ${sql.raw(key)} > ${after}`;
  // As JSON: dates stay ISO strings on either driver (the same form events carry).
  return rowsOf<{ r: Row | string }>(
    await db.execute(
      sql`select to_jsonb(t) as r from ${sql.raw(table)} t${where} order by ${sql.raw(key)} limit ${limit}`,
    ),
  ).map(({ r }) => (typeof r === "string" ? (JSON.parse(r) as Row) : r));
}

export type PageOutcome = { written: number; deleted: number; kept: number };

/**
 * Writes one page of the owner's rows on the candidate, in one statement each for upserts and deletes:
 * - a key the live sync has already applied from the owner (it has a watermark) is left to the sync, which is
 *   at least as new (every committed change reaches it, in order);
 * - otherwise the owner's row wins unless the candidate's `version` is newer; an identical row is not rewritten;
 * - candidate keys inside the page's key range that the owner does not have are deleted (same watermark rule).
 * Running a page twice changes nothing the second time: the backfill is idempotent.
 */
export async function writePage(
  candidate: Database,
  spec: ResourceSpec,
  { origin, rows, after, last }: { origin: string; rows: Row[]; after: string | null; last: string | null },
): Promise<PageOutcome> {
  const columns = storedColumns(spec);
  const table = ident(getTableName(spec.table));
  const key = ident(spec.key);
  const names = columns.map((c) => ident(c.name));
  const data = columns.filter((c) => c.name !== spec.key).map((c) => ident(c.name));
  const stored = rows.map((r) => {
    const s = storedRowOf(spec, r);
    return { ...s, updated_at: (s.updated_at as Date).toISOString() } as Row;
  });
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const unsynced = (k: string) =>
    `not exists (select 1 from sync_keys s where s.origin = ${literal(origin)} ` +
    `and s.table_name = ${literal(spec.resource)} and s.key = ${k}::text)`;
  return candidate.transaction(async (tx) => {
    let written = 0;
    if (stored.length > 0) {
      const upsert =
        `insert into ${table} (${names.join(", ")}) select ${names.join(", ")} from jsonb_to_recordset(` +
        `$1::jsonb) as x(${columns.map((c) => `${ident(c.name)} ${c.type}`).join(", ")}) where ${unsynced(`x.${key}`)} ` +
        `on conflict (${key}) do update set ${data.map((n) => `${n} = excluded.${n}`).join(", ")} ` +
        `where ${table}."version" <= excluded."version" and (${data.map((n) => `${table}.${n}`).join(", ")}) ` +
        `is distinct from (${data.map((n) => `excluded.${n}`).join(", ")}) returning 1`;
      const [head, tail] = upsert.split("$1") as [string, string];
      written = rowsOf(
        await tx.execute(sql`${sql.raw(head)}${JSON.stringify(stored)}${sql.raw(tail)}`),
      ).length;
    }
    const keys = stored.map((r) => String(r[spec.key]));
    const range = [
      after === null ? sql`true` : sql`${sql.raw(key)} > ${after}`,
      last === null ? sql`true` : sql`${sql.raw(key)} <= ${last}`,
    ];
    const deleted = rowsOf(
      await tx.execute(
        sql`delete from ${sql.raw(table)} where ${range[0]} and ${range[1]} and ${sql.raw(key)} not in (select jsonb_array_elements_text(${JSON.stringify(keys)}::jsonb)) and ${sql.raw(unsynced(key))} returning 1`,
      ),
    ).length;
    return { written, deleted, kept: stored.length - written };
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
  specs: readonly ResourceSpec[];
  state: DatasyncState;
  batch: number;
  onProgress?: (p: BackfillProgress) => void;
  /** Called after each committed page (tests and the crash bench interrupt here). */
  afterPage?: (checkpoint: BackfillCheckpoint) => Promise<void> | void;
};

export type BackfillResult = {
  resumed: boolean;
  tables: { table: string; rows: number; written: number; deleted: number; seconds: number }[];
  rowsPerSecond: number;
};

async function collationOf(db: Database) {
  const [row] = rowsOf<{ c: string }>(
    await db.execute(sql`select datcollate as c from pg_database where datname = current_database()`),
  );
  return row?.c ?? "";
}

async function countRows(db: Database, spec: ResourceSpec) {
  const [row] = rowsOf<{ n: number }>(
    await db.execute(sql.raw(`select count(*)::int as n from ${ident(getTableName(spec.table))}`)),
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
  specs,
  state,
  batch,
  onProgress,
  afterPage,
}: BackfillOptions): Promise<BackfillResult> {
  const [ownerCollation, candidateCollation] = [await collationOf(owner.db), await collationOf(candidate.db)];
  if (ownerCollation !== candidateCollation)
    throw new Error(
      `the databases order keys differently (collation ${ownerCollation} vs ${candidateCollation}); keyset pages need the same order`,
    );
  const saved = await state.checkpoint(route);
  const resumable = saved && saved.owner === owner.name && saved.candidate === candidate.name;
  // No key left after rows were copied: that table's last page committed before the next table was named.
  const finished = resumable && saved.after === null && saved.copied > 0;
  const savedAt = resumable ? specs.findIndex((s) => s.resource === saved.table) : -1;
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
    let after = resumable && saved.table === spec.resource ? saved.after : null;
    let copied = resumable && saved.table === spec.resource ? saved.copied : 0;
    const copiedAtStart = copied;
    let written = 0;
    let deleted = 0;
    for (;;) {
      const rows = await ownerPage(owner.db, spec, after, batch);
      const last = rows.length < batch ? null : String(rows.at(-1)?.[spec.key]);
      const outcome = await writePage(candidate.db, spec, { origin: owner.name, rows, after, last });
      written += outcome.written;
      deleted += outcome.deleted;
      copied += rows.length;
      rowsTotal += rows.length;
      const seconds = (performance.now() - tableStart) / 1000;
      const rate = (copied - copiedAtStart) / Math.max(seconds, 1e-3);
      const checkpoint: BackfillCheckpoint = {
        owner: owner.name,
        candidate: candidate.name,
        table: spec.resource,
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
        table: spec.resource,
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
      table: spec.resource,
      rows: copied,
      written,
      deleted,
      seconds: (performance.now() - tableStart) / 1000,
    });
    doneBefore += total;
    // The next table starts from its beginning: the checkpoint names it with no key yet.
    const next = specs[specs.indexOf(spec) + 1];
    if (next)
      await state.saveCheckpoint(route, {
        owner: owner.name,
        candidate: candidate.name,
        table: next.resource,
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
  return { resumed: Boolean(resumable), tables, rowsPerSecond: rowsTotal / Math.max(seconds, 1e-3) };
}
