import type { Database } from "@fig/db";
import type { ChangeOp, RecordChange } from "./changes.ts";
import { type ResourceSpec, type Row, searchTextOf } from "./resource.ts";
import { REFERENCE_SPECS } from "./specs/index.ts";

function specOf(table: string): ResourceSpec {
  const spec = REFERENCE_SPECS.find((s) => s.resource === table);
  if (!spec) throw new Error(`${table} is not a reference table`);
  return spec;
}

/**
 * What the data sync needs from the reference tables beyond their `fig.data` declaration: `search_text` is
 * derived (events do not carry it), and what the sync applied is republished as this side's reference.changed.
 *
 * @example
 * createFollowerSync({ route, origin: "monolith", ...referenceSyncHooks(recordReferenceChanged), ... })
 */
export function referenceSyncHooks(recordChange: RecordChange) {
  return {
    prepareRow: (table: string, row: Row): Row => ({ ...row, search_text: searchTextOf(specOf(table), row) }),
    republish: (tx: Database, change: { table: string; op: ChangeOp; keys: string[]; rows: Row[] }) =>
      recordChange(tx, { spec: specOf(change.table), op: change.op, keys: change.keys, rows: change.rows }),
  };
}
