import { bigint, index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The audit log: one row per entry, linked by `prev_hash` to the one before. `seq` is given under the head
 * row's lock, so it has no gaps; `event_id` (the producer's Nats-Msg-Id) is unique, so a redelivery appends
 * nothing. `recorded_at` (when the audit service appended it) is bookkeeping, outside the hash.
 */
export const auditEntries = pgTable(
  "audit_entries",
  {
    seq: bigint("seq", { mode: "number" }).primaryKey(),
    event_id: text("event_id").notNull().unique(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
    actor_sub: text("actor_sub").notNull(),
    actor_tenant: text("actor_tenant"),
    kind: text("kind").notNull(),
    subject: text("subject"),
    from_value: jsonb("from_value"),
    to_value: jsonb("to_value"),
    reason: text("reason"),
    data: jsonb("data"),
    prev_hash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
    recorded_at: timestamp("recorded_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("audit_entries_at_idx").on(t.at),
    index("audit_entries_kind_idx").on(t.kind, t.seq),
    index("audit_entries_actor_idx").on(t.actor_sub, t.seq),
    index("audit_entries_subject_idx").on(t.subject, t.seq),
  ],
);

/**
 * One row (id 1): the last entry's seq and hash. Appends lock it (SELECT … FOR UPDATE), which makes the chain
 * linear across replicas, and verify compares the last entry with it, so removing the newest entries shows too.
 */
export const auditHead = pgTable("audit_head", {
  id: integer("id").primaryKey(),
  seq: bigint("seq", { mode: "number" }).notNull(),
  hash: text("hash").notNull(),
});
