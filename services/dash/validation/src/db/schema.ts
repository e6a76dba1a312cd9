import { bigint, boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

// Tenant-owned tables carry tenant_id and are guarded by row-level security (drizzle/0001_tenant_rls.sql):
// every query runs in a transaction that sets app.tenant_id and drops to the non-superuser role fig_tenant.

export const files = pgTable(
  "files",
  {
    id: uuid("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    name: text("name").notNull(),
    bytes: bigint("bytes", { mode: "number" }).notNull(),
    sha256: text("sha256").notNull(),
    content_type: text("content_type").notNull(),
    /** Object name in the service's JetStream object-store bucket. */
    object_name: text("object_name").notNull(),
    uploaded_by: text("uploaded_by").notNull(),
    created_at: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("files_tenant_idx").on(t.tenant_id, t.created_at)],
);

export const validations = pgTable(
  "validations",
  {
    id: uuid("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    file_id: uuid("file_id")
      .notNull()
      .references(() => files.id),
    status: text("status", { enum: ["queued", "processing", "completed", "failed"] }).notNull(),
    processed_rows: integer("processed_rows").notNull().default(0),
    processed_bytes: bigint("processed_bytes", { mode: "number" }).notNull().default(0),
    total_bytes: bigint("total_bytes", { mode: "number" }).notNull(),
    rows: integer("rows"),
    counts_by_severity: jsonb("counts_by_severity").$type<Record<string, number>>().notNull().default({}),
    counts_by_rule: jsonb("counts_by_rule").$type<Record<string, number>>().notNull().default({}),
    failure_reason: text("failure_reason"),
    attempts: integer("attempts").notNull().default(0),
    requested_by: text("requested_by").notNull(),
    // Millisecond precision, as a JS Date holds: the list cursor carries it and must compare equal.
    queued_at: timestamp("queued_at", { withTimezone: true, mode: "date", precision: 3 })
      .notNull()
      .defaultNow(),
    started_at: timestamp("started_at", { withTimezone: true, mode: "date" }),
    finished_at: timestamp("finished_at", { withTimezone: true, mode: "date" }),
    duration_ms: integer("duration_ms"),
  },
  (t) => [index("validations_tenant_idx").on(t.tenant_id, t.queued_at)],
);

export const results = pgTable(
  "results",
  {
    validation_id: uuid("validation_id")
      .notNull()
      .references(() => validations.id, { onDelete: "cascade" }),
    tenant_id: text("tenant_id").notNull(),
    /** Order of findings within a run (line order, then rule). */
    seq: integer("seq").notNull(),
    line: integer("line").notNull(),
    rule_id: text("rule_id").notNull(),
    severity: text("severity", { enum: ["error", "warning", "info"] }).notNull(),
    column: text("column"),
    message: text("message").notNull(),
  },
  (t) => [index("results_run_idx").on(t.validation_id, t.seq)],
);

// Read model of reference-data (global, not tenant-owned): seeded from its API, kept current by reference.changed.
export const refCodes = pgTable("ref_codes", {
  code: text("code").primaryKey(),
  tariff_cents: integer("tariff_cents").notNull(),
  place_of_service: text("place_of_service").notNull(),
  requires_context: boolean("requires_context").notNull(),
  max_per_day: integer("max_per_day"),
  effective_from: text("effective_from").notNull(),
  effective_to: text("effective_to"),
  active: boolean("active").notNull(),
});
export const refContexts = pgTable("ref_contexts", {
  code: text("code").primaryKey(),
  active: boolean("active").notNull(),
});
export const refEstablishments = pgTable("ref_establishments", {
  number: text("number").primaryKey(),
  type: text("type").notNull(),
  region: text("region").notNull(),
  active: boolean("active").notNull(),
});
export const refRules = pgTable("ref_rules", {
  id: text("id").primaryKey(),
  severity: text("severity").notNull(),
  enabled: boolean("enabled").notNull(),
  params: jsonb("params").$type<Record<string, unknown>>().notNull(),
});

export { inbox, outbox } from "@fig/events";
