import { integer, pgTable, text } from "drizzle-orm/pg-core";

export { inbox, outbox } from "../src/tables.ts";

/** State the tests change, and the effect a consumer applies (counted to prove exactly-once). */
export const widgets = pgTable("widgets", { id: text("id").primaryKey(), name: text("name").notNull() });
export const effects = pgTable("effects", {
  event_id: text("event_id").notNull(),
  hits: integer("hits").notNull().default(1),
});
