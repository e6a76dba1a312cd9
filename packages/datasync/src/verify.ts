import type { Database } from "@fig/db";
import type { ResourceSpec } from "@fig/reference";
import { firstDifferences, tableChecksum } from "./checksum.ts";
import type { TableComparison, VerifyRecord } from "./state.ts";

/**
 * Compares the two sides table by table: count and order-independent checksum (computed in each database),
 * and, where they differ, the first differing keys (missing on the candidate, extra there, or different).
 */
export async function verifySides({
  owner,
  candidate,
  specs,
  maxDifferences = 10,
}: {
  owner: { name: string; db: Database };
  candidate: { name: string; db: Database };
  specs: readonly ResourceSpec[];
  maxDifferences?: number;
}): Promise<VerifyRecord> {
  const tables: TableComparison[] = [];
  for (const spec of specs) {
    const [a, b] = await Promise.all([tableChecksum(owner.db, spec), tableChecksum(candidate.db, spec)]);
    const equal = a.count === b.count && a.checksum === b.checksum;
    tables.push({
      table: spec.resource,
      owner: a,
      candidate: b,
      equal,
      differences: equal ? [] : await firstDifferences(owner.db, candidate.db, spec, maxDifferences),
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
    for (const d of t.differences) lines.push(`         ${d.kind.padEnd(9)} ${t.table} ${d.key}`);
  }
  return lines.join("\n");
}
