import { type Database, rowsOf } from "@fig/db";
import type { ResourceSpec } from "@fig/reference";
import { getTableName, sql } from "drizzle-orm";

export type TableChecksum = { table: string; count: number; checksum: string };

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * One row as canonical text: the API's columns in spec order, then `version` and `updated_at` to the
 * millisecond (what an ETag is made of, so If-Match keeps working across the flip; events carry ms).
 */
function rowText(spec: ResourceSpec): string {
  const columns = spec.columns.map((c) => ident(c.name));
  return (
    `json_build_array(${columns.join(", ")}, "version", ` +
    `to_char("updated_at" at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS'))::text`
  );
}

/** A 64-bit slice of the row's md5, as a signed bigint: summed, it is an order-independent checksum. */
const rowHash = (spec: ResourceSpec) => `('x' || substr(md5(${rowText(spec)}), 1, 16))::bit(64)::bigint`;

/**
 * Count and order-independent checksum of a table, computed in SQL: the sum (as numeric, no overflow) of every
 * row's 64-bit hash. Two sides with the same rows have the same pair, whatever their physical order.
 */
export async function tableChecksum(db: Database, spec: ResourceSpec): Promise<TableChecksum> {
  const table = ident(getTableName(spec.table));
  const [row] = rowsOf<{ n: number | string; sum: string }>(
    await db.execute(
      sql.raw(
        `select count(*)::int as n, coalesce(sum(${rowHash(spec)}::numeric), 0)::text as sum from ${table}`,
      ),
    ),
  );
  return { table: spec.resource, count: Number(row?.n ?? 0), checksum: row?.sum ?? "0" };
}

/** Every key with its row hash, in key order (only when totals differ, to name the keys that do). */
async function keyHashes(db: Database, spec: ResourceSpec, limit: number, after?: string) {
  const table = ident(getTableName(spec.table));
  const key = ident(spec.key);
  const where = after === undefined ? sql`` : sql` where ${sql.raw(key)} > ${after}`;
  return rowsOf<{ k: string; h: string }>(
    await db.execute(
      sql`select ${sql.raw(key)}::text as k, md5(${sql.raw(rowText(spec))}) as h from ${sql.raw(table)}${where} order by ${sql.raw(key)} collate "C" limit ${limit}`,
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
  spec: ResourceSpec,
  max = 10,
  pageSize = 5000,
): Promise<KeyDifference[]> {
  const out: KeyDifference[] = [];
  let a = await keyHashes(source, spec, pageSize);
  let b = await keyHashes(target, spec, pageSize);
  let i = 0;
  let j = 0;
  // Refills a side when its page is used up; a short page means that side is exhausted.
  const refill = async () => {
    if (i === a.length && a.length === pageSize) {
      a = await keyHashes(source, spec, pageSize, a.at(-1)?.k);
      i = 0;
    }
    if (j === b.length && b.length === pageSize) {
      b = await keyHashes(target, spec, pageSize, b.at(-1)?.k);
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
