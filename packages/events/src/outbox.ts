import type { Database } from "@fig/db";
import { sql } from "drizzle-orm";
import { catalog, type EventData, type EventType } from "./catalog.ts";
import { subjectOf } from "./subjects.ts";
import { OUTBOX_CHANNEL, outbox } from "./tables.ts";

const notified = new WeakSet<object>();

export type EnqueueOptions = {
  subject?: string;
  tenant?: string;
  traceparent?: string;
  /** The publishing service when it is not the catalog's owner (one of its `alsoPublishedBy`). */
  source?: string;
};

/**
 * Records an event in the outbox, inside the caller's transaction: it is published if and only if the
 * transaction commits. Data that fails the catalog schema throws (a programming error).
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await tx.insert(codes).values(row);
 *   await enqueueEvent(tx, "reference.changed", { table: "codes", op: "created", keys: [row.code], count: 1, truncated: false });
 * });
 */
export async function enqueueEvent<T extends EventType>(
  tx: Database,
  type: T,
  data: EventData<T>,
  options: EnqueueOptions = {},
): Promise<string> {
  const definition = catalog[type];
  const parsed = definition.schema.parse(data);
  if (definition.tenantOwned && !options.tenant) throw new Error(`${type} is tenant-owned: pass the tenant`);
  const source = options.source ?? definition.source;
  subjectOf("-", type, source); // throws for a source the catalog does not name
  const id = crypto.randomUUID();
  await tx.insert(outbox).values({
    id,
    type,
    source,
    subject: options.subject ?? null,
    tenant: options.tenant ?? null,
    traceparent: options.traceparent ?? null,
    data: parsed,
  });
  // Delivered at commit, dropped on rollback: exactly the hint the relay needs. Once per transaction is enough.
  if (!notified.has(tx)) {
    notified.add(tx);
    await tx.execute(sql`select pg_notify(${OUTBOX_CHANNEL}, '')`);
  }
  return id;
}
