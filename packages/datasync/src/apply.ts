import type { Database } from "@fig/db";
import { type RecordChange, type ResourceSpec, type Row, searchTextOf } from "@fig/reference";
import { and, eq, getTableColumns, inArray, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { syncKeys } from "./tables.ts";

export type ChangeOp = "created" | "updated" | "deleted" | "imported";

/** One change as the owner published it, rows with `version` and `updated_at`, ordered by `sequence`. */
export type IncomingChange = {
  origin: string;
  spec: ResourceSpec;
  op: ChangeOp;
  rows: Row[];
  sequence: number;
  eventTime: Date;
};

export type ApplyOutcome = { applied: number; skipped: number };

/** The row as this database stores it, from an event's or an API's JSON (dates as ISO strings). */
export function storedRowOf(spec: ResourceSpec, row: Row): Row {
  const out: Row = {};
  for (const c of spec.columns) out[c.name] = row[c.name] ?? null;
  out.version = Number(row.version);
  out.updated_at = new Date(String(row.updated_at));
  out.search_text = searchTextOf(spec, out);
  return out;
}

const sameBookkeeping = (local: Row, incoming: Row) =>
  Number(local.version) === Number(incoming.version) &&
  new Date(String(local.updated_at)).getTime() === new Date(String(incoming.updated_at)).getTime();

async function upsertRow(tx: Database, spec: ResourceSpec, row: Row) {
  const { [spec.key]: _key, ...rest } = row;
  await tx.insert(spec.table).values(row).onConflictDoUpdate({ target: spec.keyColumn, set: rest });
}

async function localRows(tx: Database, spec: ResourceSpec, keys: string[]): Promise<Map<string, Row>> {
  if (keys.length === 0) return new Map();
  const found = (await tx
    .select()
    .from(spec.table)
    .where(inArray(spec.keyColumn, keys))
    .for("update")) as Row[];
  return new Map(found.map((r) => [String(r[spec.key]), r]));
}

async function watermarks(tx: Database, origin: string, spec: ResourceSpec, keys: string[]) {
  if (keys.length === 0) return new Map<string, { sequence: number }>();
  const found = await tx
    .select({ key: syncKeys.key, sequence: syncKeys.sequence })
    .from(syncKeys)
    .where(
      and(eq(syncKeys.origin, origin), eq(syncKeys.table_name, spec.resource), inArray(syncKeys.key, keys)),
    )
    .for("update");
  return new Map(found.map((w) => [w.key, w]));
}

async function setWatermark(
  tx: Database,
  w: {
    origin: string;
    spec: ResourceSpec;
    key: string;
    sequence: number;
    version: number;
    deleted: boolean;
    eventTime: Date;
  },
) {
  const values = {
    origin: w.origin,
    table_name: w.spec.resource,
    key: w.key,
    sequence: w.sequence,
    version: w.version,
    deleted: w.deleted,
    event_time: w.eventTime,
    applied_at: sql`clock_timestamp()`,
  };
  await tx
    .insert(syncKeys)
    .values(values)
    .onConflictDoUpdate({
      target: [syncKeys.origin, syncKeys.table_name, syncKeys.key],
      set: { ...values, sequence: sql`greatest(${syncKeys.sequence}, excluded.sequence)` },
    });
}

/**
 * Applies one change in the caller's transaction, key by key, idempotently and in order per key:
 * - a key whose watermark (last applied `sequence` from this origin) is at or past the change is skipped
 *   (a replay, or a redelivery overtaken by a later change);
 * - a key never seen from this origin (backfilled, seeded) takes the change unless its local `version` is newer;
 * - a change equal to the local row (same version and updated_at) changes nothing and is not republished,
 *   which is what stops two replicas echoing each other's republished changes;
 * - a delete leaves a tombstone watermark.
 * What changed is republished through `recordChange` (the service's own event), so the service's own
 * consumers (validation's read model follows reference-data) hear about it too.
 */
export async function applyIncomingChange(
  tx: Database,
  change: IncomingChange,
  recordChange?: RecordChange,
): Promise<ApplyOutcome> {
  const { origin, spec, op, sequence, eventTime } = change;
  const rows = change.rows.map((r) => storedRowOf(spec, r));
  const keys = rows.map((r) => String(r[spec.key]));
  const [locals, marks] = [await localRows(tx, spec, keys), await watermarks(tx, origin, spec, keys)];
  const changed: Row[] = [];
  let skipped = 0;
  for (const row of rows) {
    const key = String(row[spec.key]);
    const mark = marks.get(key);
    const local = locals.get(key);
    if (mark && mark.sequence >= sequence) {
      skipped++;
      continue;
    }
    const deleted = op === "deleted";
    const newerHere = !mark && local && Number(local.version) > Number(row.version);
    const noChange = deleted ? !local : local !== undefined && sameBookkeeping(local, row);
    if (!newerHere && !noChange) {
      if (deleted) await tx.delete(spec.table).where(eq(spec.keyColumn, key));
      else await upsertRow(tx, spec, row);
      changed.push(deleted ? (local as Row) : row);
    } else skipped++;
    await setWatermark(tx, { origin, spec, key, sequence, version: Number(row.version), deleted, eventTime });
  }
  if (recordChange && changed.length > 0)
    await recordChange(tx, {
      spec,
      op,
      keys: changed.map((r) => String(r[spec.key])),
      rows: changed,
    });
  return { applied: changed.length, skipped };
}

/**
 * Makes the local table equal to `snapshot` (the owner's whole table, read through its API just before this
 * transaction, so it is newer than anything applied so far): rows that differ are written, rows the owner no
 * longer has are deleted. Used when an event is truncated or carries no rows. With a known `sequence`, the
 * keys' watermarks move up to it; changes committed later still apply after it.
 */
export async function applySnapshot(
  tx: Database,
  {
    origin,
    spec,
    snapshot,
    sequence,
    eventTime,
  }: { origin: string; spec: ResourceSpec; snapshot: Row[]; sequence?: number | undefined; eventTime: Date },
  recordChange?: RecordChange,
): Promise<ApplyOutcome> {
  const incoming = new Map(snapshot.map((r) => [String(r[spec.key]), storedRowOf(spec, r)]));
  const keyColumn = getTableColumns(spec.table)[spec.key] as PgColumn;
  const local = new Map(
    ((await tx.select().from(spec.table).for("update")) as Row[]).map((r) => [String(r[spec.key]), r]),
  );
  const written: Row[] = [];
  const removed: Row[] = [];
  for (const [key, row] of incoming) {
    const mine = local.get(key);
    if (mine && sameBookkeeping(mine, row)) continue;
    await upsertRow(tx, spec, row);
    written.push(row);
  }
  for (const [key, row] of local) {
    if (incoming.has(key)) continue;
    await tx.delete(spec.table).where(eq(keyColumn, key));
    removed.push(row);
  }
  if (sequence !== undefined) {
    for (const row of [...written, ...removed]) {
      const key = String(row[spec.key]);
      const deleted = !incoming.has(key);
      await setWatermark(tx, {
        origin,
        spec,
        key,
        sequence,
        version: Number(row.version),
        deleted,
        eventTime,
      });
    }
  }
  if (recordChange) {
    if (written.length > 0)
      await recordChange(tx, {
        spec,
        op: "imported",
        keys: written.map((r) => String(r[spec.key])),
        rows: written,
      });
    for (const row of removed)
      await recordChange(tx, { spec, op: "deleted", keys: [String(row[spec.key])], rows: [row] });
  }
  return { applied: written.length + removed.length, skipped: incoming.size - written.length };
}
