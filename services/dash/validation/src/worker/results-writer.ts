import type { Finding } from "@dash/billing";
import { type Database, withTenant } from "@fig/db";
import { eq, sql } from "drizzle-orm";
import { results, validations } from "../db/schema.ts";

export type FindingCounts = { bySeverity: Record<string, number>; byRule: Record<string, number> };

/**
 * A run's writes while its file is read: findings counted and stored in batches, and progress updates. The
 * writes go out one at a time, in order, while the worker reads on; a caller awaits only when the next write
 * has to wait for the one in flight. A failed write is thrown by the next `add`/`progress`/`flush` that waits.
 */
export function createResultsWriter(db: Database, tenant: string, validationId: string, batchSize: number) {
  const counts: FindingCounts = { bySeverity: { error: 0, warning: 0, info: 0 }, byRule: {} };
  let pending: Finding[] = [];
  let seq = 0;
  let writing: Promise<void> | undefined;
  let inFlight = false;

  /** Starts `task` once the write in flight has committed (rethrowing its error), without waiting for `task`. */
  async function enqueue(task: () => Promise<unknown>): Promise<void> {
    if (writing) await writing;
    inFlight = true;
    const next = task().then(
      () => {
        inFlight = false;
      },
      (error) => {
        inFlight = false;
        throw error;
      },
    );
    next.catch(() => {}); // awaited by the next enqueue or by `flush`
    writing = next;
  }

  function take(found: Finding[]): void {
    for (let i = 0; i < found.length; i++) {
      const f = found[i] as Finding;
      counts.bySeverity[f.severity] = (counts.bySeverity[f.severity] ?? 0) + 1;
      counts.byRule[f.ruleId] = (counts.byRule[f.ruleId] ?? 0) + 1;
      pending.push(f);
    }
  }

  function writeBatch(): Promise<void> {
    const batch = pending;
    const first = seq;
    pending = [];
    seq += batch.length;
    return enqueue(() =>
      withTenant(db, tenant, (tx) => insertResults(tx, tenant, validationId, first, batch)),
    );
  }

  return {
    counts,
    /** No write in flight: the next one starts at once. */
    get idle(): boolean {
      return !inFlight;
    },
    /** Counts the findings and queues them; returns a promise to await only when a batch went out. */
    add(found: Finding[], more?: Finding[]): Promise<void> | undefined {
      take(found);
      if (more) take(more);
      return pending.length >= batchSize ? writeBatch() : undefined;
    },
    /** Records how far the run got; `then` runs once that is committed. */
    progress(rows: number, bytes: number, then?: () => void): Promise<void> {
      return enqueue(async () => {
        await withTenant(db, tenant, (tx) =>
          tx
            .update(validations)
            .set({ processed_rows: rows, processed_bytes: bytes })
            .where(eq(validations.id, validationId)),
        );
        then?.();
      });
    },
    /** Writes what is pending and resolves when every write has committed. */
    async flush(): Promise<void> {
      if (pending.length > 0) await writeBatch();
      await writing;
    },
    /** Waits for the write in flight, ignoring its outcome (a run that stops early). */
    async abandon(): Promise<void> {
      await writing?.catch(() => {});
    },
  };
}

/**
 * One statement per batch, the findings as one JSON text: drizzle's insert builds and escapes eight parameters
 * a row, which cost about as much CPU as reading the lines that produced them.
 */
async function insertResults(
  tx: Database,
  tenant: string,
  validationId: string,
  firstSeq: number,
  batch: Finding[],
): Promise<void> {
  await tx.execute(sql`
    insert into ${results} (validation_id, tenant_id, seq, line, rule_id, severity, "column", message)
    select ${validationId}::uuid, ${tenant}, ${firstSeq}::int + f.n::int - 1, f.line, f."ruleId", f.severity, f."column", f.message
    from rows from (json_to_recordset(${JSON.stringify(batch)}::json)
      as (line int, "ruleId" text, severity text, "column" text, message text)) with ordinality as f(line, "ruleId", severity, "column", message, n)`);
}
