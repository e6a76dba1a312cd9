import { bigint, boolean, integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The live sync's per-key watermark on the receiving side: the last change of `key` applied from `origin`
 * (the publisher), by that publisher's `sequence`. A change at or below it is stale or a replay and is
 * skipped; a delete leaves its row here (`deleted`), a tombstone, so an older create cannot resurrect the key.
 * `event_time` (the owner's commit) and `applied_at` give the lag. Services re-export it from db/schema.ts.
 */
export const syncKeys = pgTable(
  "sync_keys",
  {
    origin: text("origin").notNull(),
    table_name: text("table_name").notNull(),
    key: text("key").notNull(),
    sequence: bigint("sequence", { mode: "number" }).notNull(),
    version: integer("version").notNull(),
    deleted: boolean("deleted").notNull().default(false),
    event_time: timestamp("event_time", { withTimezone: true, mode: "date" }).notNull(),
    applied_at: timestamp("applied_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.origin, t.table_name, t.key] })],
);
