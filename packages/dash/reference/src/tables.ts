import { sql } from "drizzle-orm";
import { boolean, check, date, index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

// The four reference tables, declared once for every service that keeps them (reference-data, monolith).
// Property names match the API and CSV field names (snake_case), so rows map to responses without renaming.
// `search_text` is the key and description folded to lower case without accents ("Accès" → "acces"),
// maintained by the application so search works the same on Postgres and PGlite without `unaccent`.
const bookkeeping = {
  version: integer("version").notNull().default(1),
  updated_at: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  search_text: text("search_text").notNull(),
};

export const codes = pgTable(
  "codes",
  {
    code: text("code").primaryKey(),
    description: text("description").notNull(),
    category: text("category").notNull(),
    tariff_cents: integer("tariff_cents").notNull(),
    unit: text("unit").notNull(),
    place_of_service: text("place_of_service", { enum: ["cabinet", "etablissement", "both"] }).notNull(),
    requires_context: boolean("requires_context").notNull().default(false),
    max_per_day: integer("max_per_day"),
    effective_from: date("effective_from", { mode: "string" }).notNull(),
    effective_to: date("effective_to", { mode: "string" }),
    active: boolean("active").notNull().default(true),
    ...bookkeeping,
  },
  (t) => [
    index("codes_category_idx").on(t.category),
    check(
      "codes_effective_range",
      sql`${t.effective_to} is null or ${t.effective_to} >= ${t.effective_from}`,
    ),
  ],
);

export const contexts = pgTable("contexts", {
  code: text("code").primaryKey(),
  description: text("description").notNull(),
  active: boolean("active").notNull().default(true),
  ...bookkeeping,
});

export const establishments = pgTable(
  "establishments",
  {
    number: text("number").primaryKey(),
    name: text("name").notNull(),
    type: text("type").notNull(),
    region: text("region").notNull(),
    active: boolean("active").notNull().default(true),
    ...bookkeeping,
  },
  (t) => [index("establishments_region_idx").on(t.region)],
);

export const rules = pgTable("rules", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  category: text("category").notNull(),
  severity: text("severity", { enum: ["error", "warning", "info"] }).notNull(),
  enabled: boolean("enabled").notNull().default(true),
  params: jsonb("params").$type<Record<string, unknown>>().notNull().default({}),
  ...bookkeeping,
});
