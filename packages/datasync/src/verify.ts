import type { Database } from "@fig/db";
import { firstDifferences, tableChecksum } from "./checksum.ts";
import {
  comparedColumns,
  type DeclaredTable,
  keyLabel,
  type ResolvedTable,
  resolveTables,
} from "./declared-table.ts";
import type { TableComparison, VerifyRecord } from "./state.ts";

/** The candidate's columns must include every column compared on the owner's table. */
function checkCandidate(owner: ResolvedTable, candidate: ResolvedTable, candidateName: string) {
  const has = new Set(candidate.stored.map((c) => c.name));
  const missing = comparedColumns(owner).filter((c) => !has.has(c.name));
  if (missing.length > 0)
    throw new Error(
      `${candidateName}: table ${owner.name} has no column ${missing.map((c) => c.name).join(", ")} (compared on the owner's side)`,
    );
}

/**
 * Compares the two sides table by table: count and order-independent checksum (computed in each database),
 * and, where they differ, the first differing keys (missing on the candidate, extra there, or different).
 * The compared columns are the declaration's, read from the owner's table (see comparedColumns).
 */
export async function verifySides({
  owner,
  candidate,
  tables: declared,
  maxDifferences = 10,
}: {
  owner: { name: string; db: Database };
  candidate: { name: string; db: Database };
  tables: readonly DeclaredTable[];
  maxDifferences?: number;
}): Promise<VerifyRecord> {
  const ownerTables = await resolveTables(owner.db, declared, owner.name);
  const candidateTables = await resolveTables(candidate.db, declared, candidate.name);
  const tables: TableComparison[] = [];
  for (const [i, table] of ownerTables.entries()) {
    checkCandidate(table, candidateTables[i] as ResolvedTable, candidate.name);
    const columns = comparedColumns(table);
    const [a, b] = await Promise.all([
      tableChecksum(owner.db, table, columns),
      tableChecksum(candidate.db, table, columns),
    ]);
    const equal = a.count === b.count && a.checksum === b.checksum;
    tables.push({
      table: table.name,
      owner: a,
      candidate: b,
      equal,
      differences: equal
        ? []
        : await firstDifferences(owner.db, candidate.db, table, columns, maxDifferences),
    });
  }
  return {
    at: new Date().toISOString(),
    owner: owner.name,
    candidate: candidate.name,
    ok: tables.every((t) => t.equal),
    tables,
  };
}

/** The comparison as an operator reads it: one line per table, and the differing keys under a mismatch. */
export function formatVerify(record: VerifyRecord): string {
  const lines = [
    `verify ${record.owner} (owner) → ${record.candidate} (candidate): ${record.ok ? "OK" : "MISMATCH"}`,
  ];
  for (const t of record.tables) {
    lines.push(
      `  ${t.equal ? "ok  " : "DIFF"} ${t.table.padEnd(15)} rows ${String(t.owner.count).padStart(8)} / ${String(t.candidate.count).padStart(8)}` +
        `  checksum ${t.owner.checksum} / ${t.candidate.checksum}`,
    );
    for (const d of t.differences) lines.push(`         ${d.kind.padEnd(9)} ${t.table} ${keyLabel(d.key)}`);
  }
  return lines.join("\n");
}
