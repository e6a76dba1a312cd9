import type { Database } from "@fig/db";
import { DomainError, decodeCursor, encodeCursor, fieldErrorsFromZod } from "@fig/service";
import { and, asc, eq, getTableColumns, gt, like, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type RecordChange, writeChange } from "./changes.ts";
import { foldForSearch, type ResourceSpec, type Row, searchTextOf } from "./resource.ts";

/**
 * `recordChange` writes the service's event for a change in the write's transaction; `traceparent` of the
 * request is carried onto it. With its `withWrite`, a create, update or delete and its event are one statement.
 */
export type StoreContext = { db: Database; recordChange: RecordChange; traceparent?: string | undefined };

/** A PATCH whose If-Match is stale: carries the current ETag so the adapter can send it back. */
export class StaleWriteError extends DomainError {
  readonly currentEtag: string;
  constructor(message: string, currentEtag: string) {
    super("precondition_failed", message);
    this.currentEtag = currentEtag;
  }
}

/** A record as the API shows it: everything but the internal search column. */
export function publicRow({ search_text: _search, ...row }: Row): Row {
  return row;
}

/** Strong validator for If-Match / If-None-Match: the version, plus the write time so a re-created key differs. */
export function etagOf(row: Row): string {
  const updated =
    row.updated_at instanceof Date ? row.updated_at.getTime() : Date.parse(String(row.updated_at));
  return `"${row.version}-${updated.toString(36)}"`;
}

// Cursors carry the last key of the page: `{ k: key }`.
const isKeyCursor = (v: unknown): v is { k: string } => typeof (v as { k?: unknown } | null)?.k === "string";

export type ListInput = {
  limit: number;
  cursor?: string | undefined;
  q?: string | undefined;
  filters: Record<string, unknown>;
};

export async function listRecords({ db }: StoreContext, spec: ResourceSpec, input: ListInput) {
  const searchColumn = getTableColumns(spec.table).search_text as PgColumn;
  const where = and(
    input.cursor ? gt(spec.keyColumn, decodeCursor(input.cursor, isKeyCursor).k) : undefined,
    input.q ? like(searchColumn, `%${escapeLike(foldForSearch(input.q))}%`) : undefined,
    ...spec.filterWhere(input.filters),
  );
  const rows = (await db
    .select()
    .from(spec.table)
    .where(where)
    .orderBy(asc(spec.keyColumn))
    .limit(input.limit + 1)) as Row[];
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > input.limit && last ? encodeCursor({ k: String(last[spec.key]) }) : null;
  return { items: page.map(publicRow), nextCursor };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

// One prepared lookup per (database, table): the hot read path skips query building and server-side planning.
const lookups = new WeakMap<Database, Map<ResourceSpec, { execute(v: { key: string }): Promise<unknown> }>>();

function lookupByKey(db: Database, spec: ResourceSpec) {
  let byTable = lookups.get(db);
  if (!byTable) {
    byTable = new Map();
    lookups.set(db, byTable);
  }
  let lookup = byTable.get(spec);
  if (!lookup) {
    lookup = db
      .select()
      .from(spec.table)
      .where(eq(spec.keyColumn, sql.placeholder("key")))
      .limit(1)
      .prepare(`get_${spec.resource}_by_key`);
    byTable.set(spec, lookup);
  }
  return lookup;
}

export async function getRecord({ db }: StoreContext, spec: ResourceSpec, key: string): Promise<Row> {
  const [row] = (await lookupByKey(db, spec).execute({ key })) as Row[];
  if (!row) throw notFound(spec, key);
  return publicRow(row);
}

export async function createRecord(
  { db, recordChange, traceparent }: StoreContext,
  spec: ResourceSpec,
  input: Row,
): Promise<Row> {
  return db.transaction(async (tx) => {
    const insert = tx
      .insert(spec.table)
      .values({ ...input, search_text: searchTextOf(spec, input) })
      .onConflictDoNothing()
      .returning();
    const keys = [String(input[spec.key])];
    const [row] = await writeChange(
      tx,
      recordChange,
      { spec, op: "created", keys, write: insert },
      traceparent,
    );
    if (!row) throw new DomainError("already_exists", `${spec.singular} ${input[spec.key]} already exists`);
    return publicRow(row);
  });
}

/**
 * Applies a partial update when `ifMatch` names the current ETag (or is `*`); 412 when it is stale.
 * The row is locked for the comparison so two concurrent writers cannot both win.
 */
export async function updateRecord(
  { db, recordChange, traceparent }: StoreContext,
  spec: ResourceSpec,
  key: string,
  patch: Row,
  ifMatch: string,
): Promise<Row> {
  return db.transaction(async (tx) => {
    const [current] = (await tx
      .select()
      .from(spec.table)
      .where(eq(spec.keyColumn, key))
      .for("update")) as Row[];
    if (!current) throw notFound(spec, key);
    const tags = ifMatch.split(",").map((t) => t.trim());
    if (!tags.includes("*") && !tags.includes(etagOf(current))) {
      throw new StaleWriteError(
        `${spec.singular} ${key} has changed since you read it; GET it again`,
        etagOf(current),
      );
    }
    if (Object.keys(patch).length === 0) return publicRow(current);
    const next = { ...current, ...patch };
    // Rules that span fields (effective_to ≥ effective_from) hold for the merged record, not just the patch.
    const { version: _v, updated_at: _u, search_text: _s, ...fields } = next;
    const merged = spec.create.safeParse(fields);
    if (!merged.success) {
      throw new DomainError("invalid", "The change would make the record invalid", {
        errors: fieldErrorsFromZod(merged.error.issues, "body"),
      });
    }
    const versionColumn = getTableColumns(spec.table).version as PgColumn;
    const update = tx
      .update(spec.table)
      .set({
        ...patch,
        search_text: searchTextOf(spec, next),
        version: sql`${versionColumn} + 1`,
        updated_at: new Date(),
      })
      .where(eq(spec.keyColumn, key))
      .returning();
    const [row] = await writeChange(
      tx,
      recordChange,
      { spec, op: "updated", keys: [key], write: update },
      traceparent,
    );
    return publicRow(row as Row);
  });
}

export async function deleteRecord(
  { db, recordChange, traceparent }: StoreContext,
  spec: ResourceSpec,
  key: string,
): Promise<void> {
  await db.transaction(async (tx) => {
    const remove = tx.delete(spec.table).where(eq(spec.keyColumn, key)).returning();
    const deleted = await writeChange(
      tx,
      recordChange,
      { spec, op: "deleted", keys: [key], write: remove },
      traceparent,
    );
    if (deleted.length === 0) throw notFound(spec, key);
  });
}

function notFound(spec: ResourceSpec, key: string) {
  return new DomainError("not_found", `${spec.singular} ${key} does not exist`);
}
