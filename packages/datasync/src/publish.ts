import type { Database } from "@fig/db";
import { DATA_CHANGED_MAX_KEYS, type EventType, enqueueEvent } from "@fig/events";
import type { ChangeOp } from "./apply.ts";
import { type DeclaredTable, keyOf, type Row } from "./declared-table.ts";

/** One write of the owner, as its change event carries it: the rows as stored after it (deleted: as they were). */
export type OwnerChange = { table: string; op: ChangeOp; rows: Row[] };

/** JSON as events carry it: times as ISO strings (with their milliseconds). */
const jsonRow = (row: Row) =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]));

/**
 * How an owner written in TypeScript publishes a declared table's change: in the write's transaction, through
 * its outbox, the route's change event with the rows (their version included), their keys, and a sequence.
 * An owner in another language writes the same outbox row (docs/data-migration.md shows it).
 *
 * @example
 * const record = createChangeRecorder({ source: "clinic-legacy", tables: route.tables });
 * await db.transaction(async (tx) => {
 *   const [row] = await tx.execute(sql`update patients set name = ${name}, version = version + 1 where id = ${id} returning *`);
 *   await record(tx, { table: "patients", op: "updated", rows: [row] });
 * });
 */
export function createChangeRecorder({
  source,
  tables,
  event = "data.changed",
}: {
  source: string;
  tables: readonly DeclaredTable[];
  event?: EventType;
}) {
  return async function recordDataChange(tx: Database, change: OwnerChange): Promise<void> {
    const table = tables.find((t) => t.name === change.table);
    if (!table) throw new Error(`table ${change.table} is not declared in the route's fig.data`);
    const keys = change.rows.map((r) => keyOf(table, r));
    const truncated = keys.length > DATA_CHANGED_MAX_KEYS;
    await enqueueEvent(
      tx,
      event as "data.changed",
      {
        table: change.table,
        op: change.op,
        keys: truncated ? [] : keys,
        count: keys.length,
        truncated,
        rows: truncated ? [] : change.rows.map(jsonRow),
      },
      // The per-key sequence is the outbox row's own `seq`, drawn by its insert after the write took its row
      // locks: two writes of one key are serialized by the lock, so the later commit has the larger one.
      { source, subject: keys.length === 1 ? `${change.table}/${keys[0]}` : change.table, sequence: true },
    );
  };
}

export type RecordDataChange = ReturnType<typeof createChangeRecorder>;
