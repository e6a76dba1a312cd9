import type { Database } from "@fig/db";
import { sql } from "drizzle-orm";
import { catalog, type EventData, type EventType } from "./catalog.ts";
import { subjectOf } from "./subjects.ts";
import { OUTBOX_CHANNEL } from "./tables.ts";

/**
 * A writer NOTIFYs the relay at most this often per publishing source. Postgres serializes the commits of all
 * notifying transactions (a cluster-wide lock held through the commit's WAL flush), which halved a writer's
 * throughput at 16 connections; the relay instead polls every few milliseconds for a second after it last sent
 * (its `busyPollMs` and `lingerMs`), so one NOTIFY per window keeps it awake under load. An event whose NOTIFY
 * was left out waits at most the relay's busy poll while it lingers, and its poll interval otherwise (when the
 * transaction that notified rolled back, or commits much later than the others).
 */
export const OUTBOX_NOTIFY_EVERY_MS = 100;

const notified = new WeakSet<object>();
const lastNotified = new Map<string, number>();

export type EnqueueOptions = {
  subject?: string;
  tenant?: string;
  traceparent?: string;
  /** The publishing service when it is not the catalog's owner (one of its `alsoPublishedBy`). */
  source?: string;
  /**
   * Stamps `data.sequence` with the outbox row's own `seq`, drawn by this insert: a change event's per-key
   * sequence (drawn after the write's row locks, so a later commit of a key has a larger one) without a
   * round trip of its own.
   */
  sequence?: boolean;
};

/**
 * The outbox row in one statement (one round trip): the `seq` drawn first so `data.sequence` can carry it, and
 * the relay's NOTIFY on the same statement when this transaction has not sent it yet. The text is fixed, so the
 * driver prepares it once per connection. `created_at` (the event's time) is when the row is written, after
 * the write took its locks, not when its transaction began: a write that waited for a row lock did not happen
 * before it got it, and the sync's lag (event time → applied) then starts near the commit.
 */
function outboxInsert(row: {
  id: string;
  type: string;
  source: string;
  subject: string | null;
  tenant: string | null;
  traceparent: string | null;
  data: string;
  sequence: boolean;
  notify: boolean;
}) {
  const data = row.sequence
    ? sql`jsonb_set(${row.data}::jsonb, '{sequence}', to_jsonb(s.n))`
    : sql`${row.data}::jsonb`;
  const insert = sql`with s as (select nextval(pg_get_serial_sequence('outbox', 'seq')) as n),
    ins as (insert into outbox (id, seq, type, source, subject, tenant, traceparent, data, created_at)
      select ${row.id}::uuid, s.n, ${row.type}, ${row.source}, ${row.subject}, ${row.tenant}, ${row.traceparent}, ${data},
        clock_timestamp()
      from s returning seq)`;
  return row.notify
    ? sql`${insert} select pg_notify(${OUTBOX_CHANNEL}, '') from ins`
    : sql`${insert} select seq from ins`;
}

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
  // Delivered at commit, dropped on rollback: exactly the hint the relay needs. Once per transaction is enough,
  // and once per OUTBOX_NOTIFY_EVERY_MS from this process while the relay lingers.
  const now = performance.now();
  const notify =
    !notified.has(tx) &&
    now - (lastNotified.get(source) ?? Number.NEGATIVE_INFINITY) >= OUTBOX_NOTIFY_EVERY_MS;
  if (notify) {
    notified.add(tx);
    lastNotified.set(source, now);
  }
  await tx.execute(
    outboxInsert({
      id,
      type,
      source,
      subject: options.subject ?? null,
      tenant: options.tenant ?? null,
      traceparent: options.traceparent ?? null,
      data: JSON.stringify(parsed),
      sequence: options.sequence === true,
      notify,
    }),
  );
  return id;
}
