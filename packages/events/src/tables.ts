import { sql } from "drizzle-orm";
import {
  bigserial,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * Events waiting to be published, written in the same transaction as the state change they describe.
 * Services re-export this table from their db/schema.ts so drizzle-kit puts it in their migrations.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: uuid("id").primaryKey(),
    /** Publish order: one relay publishes pending rows in `seq` order. */
    seq: bigserial("seq", { mode: "number" }).notNull().unique(),
    type: text("type").notNull(),
    source: text("source").notNull(),
    subject: text("subject"),
    tenant: text("tenant"),
    traceparent: text("traceparent"),
    data: jsonb("data").notNull(),
    created_at: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    sent_at: timestamp("sent_at", { withTimezone: true, mode: "date" }),
    attempts: integer("attempts").notNull().default(0),
    last_error: text("last_error"),
  },
  (t) => [
    index("outbox_pending_idx").on(t.seq).where(sql`${t.sent_at} is null`),
    index("outbox_sent_idx").on(t.sent_at).where(sql`${t.sent_at} is not null`),
  ],
);

/** Events a consumer has applied: written in the handler's transaction, so a redelivery is a no-op. */
export const inbox = pgTable(
  "inbox",
  {
    consumer: text("consumer").notNull(),
    event_id: text("event_id").notNull(),
    processed_at: timestamp("processed_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.event_id] })],
);

/** NOTIFY channel the relay listens on; a hint only, the relay polls too. */
export const OUTBOX_CHANNEL = "fig_outbox";
