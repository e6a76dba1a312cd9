import {
  bigint,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

// The legacy Dash app's own database. Reference tables are the same as reference-data's (one declaration in
// @dash/reference); files, validations and findings are tenant-owned and guarded by row-level security
// (drizzle/0001_tenant_rls.sql): requests run in transactions that set app.tenant_id and drop to fig_tenant.
export { codes, contexts, establishments, rules } from "@dash/reference/tables";

/** Raw bytes (Postgres bytea): the legacy app keeps uploaded files in its database. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  toDriver: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  fromDriver: (value) => new Uint8Array(value),
});

export const files = pgTable(
  "files",
  {
    id: uuid("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    name: text("name").notNull(),
    bytes: bigint("bytes", { mode: "number" }).notNull(),
    sha256: text("sha256").notNull(),
    content_type: text("content_type").notNull(),
    content: bytea("content").notNull(),
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
    file_id: uuid("file_id").notNull(),
    status: text("status", { enum: ["completed", "failed"] }).notNull(),
    rows: integer("rows"),
    counts_by_severity: jsonb("counts_by_severity").$type<Record<string, number>>().notNull().default({}),
    counts_by_rule: jsonb("counts_by_rule").$type<Record<string, number>>().notNull().default({}),
    failure_reason: text("failure_reason"),
    requested_by: text("requested_by").notNull(),
    /** Runs imported from before the migration: read-only history the new service does not have. */
    archived: boolean("archived").notNull().default(false),
    // Millisecond precision, as a JS Date holds: the list cursor carries it and must compare equal.
    queued_at: timestamp("queued_at", { withTimezone: true, mode: "date", precision: 3 }).notNull(),
    started_at: timestamp("started_at", { withTimezone: true, mode: "date", precision: 3 }).notNull(),
    finished_at: timestamp("finished_at", { withTimezone: true, mode: "date", precision: 3 }).notNull(),
  },
  (t) => [index("validations_tenant_idx").on(t.tenant_id, t.queued_at)],
);

export const findings = pgTable(
  "findings",
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
  (t) => [index("findings_run_idx").on(t.validation_id, t.seq)],
);

// The live sync's inbox (above) and per-key watermarks: changes of reference data applied from the write owner.
export { syncKeys } from "@fig/datasync/tables";
// Events leave through the transactional outbox (packages/events); its table lives in this database.
export { inbox, outbox } from "@fig/events";
