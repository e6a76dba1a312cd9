import { type Database, rowsOf } from "@fig/db";
import type { DataTableDeclaration } from "@fig/route-file/data";
import { sql } from "drizzle-orm";

/** A row as events, backfill pages and the owner's API carry it: column name → JSON value. */
export type Row = Record<string, unknown>;

/** A table as a route's `fig.data` declares it: name, key columns, version and/or updatedAt, verify columns. */
export type DeclaredTable = DataTableDeclaration;

/** One column as the database has it: `type` is `format_type` (usable in a cast), `generated` is never written. */
export type Column = { name: string; type: string; timestamp: boolean; generated: boolean };

/** A declared table with the columns one side's database has (read once, then passed around). */
export type ResolvedTable = DeclaredTable & { stored: Column[] };

/** A quoted SQL identifier. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Joins a composite key's column texts into the one key string events, watermarks and verify use. */
export const KEY_SEPARATOR = "\u001f";

/** The row's key as text: the key columns' values, joined by U+001F for a composite key. */
export function keyOf(table: DeclaredTable, row: Row): string {
  return table.key.map((c) => String(row[c] ?? "")).join(KEY_SEPARATOR);
}

/** The same key text computed in SQL (`alias.` prefixes the columns when given). */
export function keySql(table: DeclaredTable, alias?: string): string {
  const col = (c: string) => `${alias ? `${alias}.` : ""}${ident(c)}::text`;
  return table.key.length === 1
    ? col(table.key[0] as string)
    : `concat_ws(chr(31), ${table.key.map(col).join(", ")})`;
}

/** A key as an operator reads it: `10001`, or `(clinic-1, 3)` for a composite key. */
export const keyLabel = (key: string) =>
  key.includes(KEY_SEPARATOR) ? `(${key.split(KEY_SEPARATOR).join(", ")})` : key;

/** The column that orders two copies of a row: the declared version, else updatedAt. */
export const orderingColumn = (table: DeclaredTable) => (table.version ?? table.updatedAt) as string;

/** The table's columns in this database, in their order; fails naming the table when it is not there. */
export async function readColumns(db: Database, table: string): Promise<Column[]> {
  const rows = rowsOf<{ name: string; type: string; generated: boolean }>(
    await db.execute(sql`
      select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attgenerated <> '' as generated
      from pg_attribute a
      where a.attrelid = to_regclass(${ident(table)}) and a.attnum > 0 and not a.attisdropped
      order by a.attnum`),
  );
  if (rows.length === 0) throw new Error(`table ${table} does not exist in this database`);
  return rows.map((r) => ({
    name: r.name,
    type: r.type,
    timestamp: r.type.startsWith("timestamp"),
    generated: r.generated === true || String(r.generated) === "true",
  }));
}

/** Reads each declared table's columns and checks every declared column is there (`side` names the database). */
export async function resolveTables(
  db: Database,
  tables: readonly DeclaredTable[],
  side = "this database",
): Promise<ResolvedTable[]> {
  const out: ResolvedTable[] = [];
  for (const table of tables) {
    const columns = await readColumns(db, table.name).catch((error: Error) => {
      throw new Error(`${side}: ${error.message}`);
    });
    const names = new Set(columns.map((c) => c.name));
    const declared = [...table.key, table.version, table.updatedAt, ...(table.columns ?? [])];
    const missing = declared.filter((c): c is string => c !== undefined && !names.has(c));
    if (missing.length > 0)
      throw new Error(
        `${side}: table ${table.name} has no column ${missing.join(", ")} (declared in fig.data)`,
      );
    out.push({ ...table, stored: columns });
  }
  return out;
}

/**
 * The columns verify compares, in one order for both sides: the key, then the declared `columns` (or every
 * column of the owner's table, in its order, minus `exclude`).
 */
export function comparedColumns(table: ResolvedTable): Column[] {
  const byName = new Map(table.stored.map((c) => [c.name, c]));
  const rest = (table.columns ?? table.stored.map((c) => c.name)).filter(
    (n) => !table.key.includes(n) && !table.exclude.includes(n),
  );
  return [...table.key, ...rest].map((n) => byName.get(n) as Column);
}

/** The columns a write sets: every stored column the rows carry (a derived one they lack keeps its default). */
export function writtenColumns(table: ResolvedTable, rows: readonly Row[]): Column[] {
  const carried = new Set(rows.flatMap((r) => Object.keys(r)));
  return table.stored.filter((c) => !c.generated && carried.has(c.name));
}
