import { type Database, rowsOf } from "@fig/db";
import { sql } from "drizzle-orm";
import { type Column, ident, keySql, type ResolvedTable } from "./declared-table.ts";

export type TableChecksum = { table: string; count: number; checksum: string };

/**
 * One row as canonical text: the compared columns in one order for both sides, timestamps to the millisecond
 * in UTC (events carry JSON times, which have milliseconds; an ETag is made of the same).
 */
function rowText(columns: readonly Column[]): string {
  const values = columns.map((c) =>
    c.timestamp
      ? `to_char(${ident(c.name)}${c.type.includes("with time zone") ? " at time zone 'UTC'" : ""}, 'YYYY-MM-DD"T"HH24:MI:SS.MS')`
      : ident(c.name),
  );
  return `json_build_array(${values.join(", ")})::text`;
}

/** A 64-bit slice of the row's md5, as a signed bigint: summed, it is an order-independent checksum. */
const rowHash = (columns: readonly Column[]) =>
  `('x' || substr(md5(${rowText(columns)}), 1, 16))::bit(64)::bigint`;

/**
 * Count and order-independent checksum of a table, computed in SQL: the sum (as numeric, no overflow) of every
 * row's 64-bit hash over `columns` (comparedColumns of the owner's table, so both sides hash the same list).
 */
export async function tableChecksum(
  db: Database,
  table: ResolvedTable,
  columns: readonly Column[],
): Promise<TableChecksum> {
  const [row] = rowsOf<{ n: number | string; sum: string }>(
    await db.execute(
      sql.raw(
        `select count(*)::int as n, coalesce(sum(${rowHash(columns)}::numeric), 0)::text as sum from ${ident(table.name)}`,
      ),
    ),
  );
  return { table: table.name, count: Number(row?.n ?? 0), checksum: row?.sum ?? "0" };
}

/** Every key with its row hash, in key order (only when totals differ, to name the keys that do). */
async function keyHashes(
  db: Database,
  table: ResolvedTable,
  columns: readonly Column[],
  limit: number,
  after?: string,
) {
  const key = `(${keySql(table)}) collate "C"`;
  const where = after === undefined ? sql`` : sql` where ${sql.raw(key)} > ${after}`;
  return rowsOf<{ k: string; h: string }>(
    await db.execute(
      sql`select ${sql.raw(keySql(table))} as k, md5(${sql.raw(rowText(columns))}) as h from ${sql.raw(ident(table.name))}${where} order by ${sql.raw(key)} limit ${limit}`,
    ),
  );
}

export type KeyDifference = { key: string; kind: "missing" | "extra" | "different" };

/**
 * The first `max` keys whose rows differ between `source` and `target` (missing on the target, extra there,
 * or different), by a merge of both sides' key-ordered hashes read page by page.
 */
export async function firstDifferences(
  source: Database,
  target: Database,
  table: ResolvedTable,
  columns: readonly Column[],
  max = 10,
  pageSize = 5000,
): Promise<KeyDifference[]> {
  const out: KeyDifference[] = [];
  let a = await keyHashes(source, table, columns, pageSize);
  let b = await keyHashes(target, table, columns, pageSize);
  let i = 0;
  let j = 0;
  // Refills a side when its page is used up; a short page means that side is exhausted.
  const refill = async () => {
    if (i === a.length && a.length === pageSize) {
      a = await keyHashes(source, table, columns, pageSize, a.at(-1)?.k);
      i = 0;
    }
    if (j === b.length && b.length === pageSize) {
      b = await keyHashes(target, table, columns, pageSize, b.at(-1)?.k);
      j = 0;
    }
  };
  await refill();
  while (out.length < max && (i < a.length || j < b.length)) {
    const x = a[i];
    const y = b[j];
    if (x && (!y || x.k < y.k)) {
      out.push({ key: x.k, kind: "missing" });
      i++;
    } else if (y && (!x || y.k < x.k)) {
      out.push({ key: y.k, kind: "extra" });
      j++;
    } else if (x && y) {
      if (x.h !== y.h) out.push({ key: x.k, kind: "different" });
      i++;
      j++;
    }
    await refill();
  }
  return out;
}
