import { type Database, withTenant } from "@fig/db";
import "@dash/billing-validation/events"; // the events it records
import { enqueueEvent } from "@fig/events";
import { DomainError, decodeCursor, encodeCursor, INT4_MAX } from "@fig/service";
import { and, asc, desc, eq, gt, gte, lt, lte, or, type SQL } from "drizzle-orm";
import { files, results, validations } from "../db/schema.ts";
import type { Caller } from "./files.ts";

export type ValidationRow = typeof validations.$inferSelect;
export type ResultRow = typeof results.$inferSelect;
export type Status = ValidationRow["status"];

/** The API view of a run: status, progress, counts and timings. */
export function presentValidation(v: ValidationRow) {
  const percent =
    v.status === "completed"
      ? 100
      : v.total_bytes > 0
        ? Math.min(99, Math.floor((v.processed_bytes / v.total_bytes) * 100))
        : 0;
  return {
    validationId: v.id,
    fileId: v.file_id,
    status: v.status,
    progress: { processedRows: v.processed_rows, percent },
    rows: v.rows,
    counts: {
      bySeverity: { error: 0, warning: 0, info: 0, ...v.counts_by_severity },
      byRule: v.counts_by_rule,
    },
    failureReason: v.failure_reason,
    attempts: v.attempts,
    timings: {
      queuedAt: v.queued_at.toISOString(),
      startedAt: v.started_at?.toISOString() ?? null,
      finishedAt: v.finished_at?.toISOString() ?? null,
      durationMs: v.duration_ms,
    },
    // The monolith's archive is the only archive; a run made here never is one.
    archived: false,
  };
}

/**
 * Queues a run: the row, `validation.queued` (for listeners) and the `validation.requested` job (for one
 * worker) commit together, so a queued run always has its job.
 */
export async function requestValidation(
  db: Database,
  caller: Caller,
  fileId: string,
): Promise<ValidationRow> {
  return withTenant(db, caller.tenant, async (tx) => {
    const [file] = await tx.select().from(files).where(eq(files.id, fileId));
    if (!file) {
      throw new DomainError("not_found", `File ${fileId} does not exist`, {
        errors: [{ location: "body.fileId", message: "No such file for your tenant" }],
      });
    }
    const id = crypto.randomUUID();
    const [row] = await tx
      .insert(validations)
      .values({
        id,
        tenant_id: caller.tenant,
        file_id: fileId,
        status: "queued",
        total_bytes: file.bytes,
        requested_by: caller.sub,
      })
      .returning();
    const options = {
      tenant: caller.tenant,
      subject: `validations/${id}`,
      ...(caller.traceparent ? { traceparent: caller.traceparent } : {}),
    };
    await enqueueEvent(tx, "validation.queued", { validationId: id, fileId }, options);
    await enqueueEvent(tx, "validation.requested", { validationId: id, fileId }, options);
    return row as ValidationRow;
  });
}

export async function getValidation(db: Database, tenant: string, id: string): Promise<ValidationRow> {
  const [row] = await withTenant(db, tenant, (tx) =>
    tx.select().from(validations).where(eq(validations.id, id)),
  );
  if (!row) throw new DomainError("not_found", `Validation ${id} does not exist`);
  return row;
}

type ListCursor = [string, string];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isListCursor = (v: unknown): v is ListCursor =>
  Array.isArray(v) &&
  v.length === 2 &&
  typeof v[0] === "string" &&
  !Number.isNaN(Date.parse(v[0])) &&
  typeof v[1] === "string" &&
  UUID.test(v[1]);

export async function listValidations(
  db: Database,
  tenant: string,
  input: { limit: number; cursor?: string | undefined; status?: Status | undefined },
) {
  const after = input.cursor ? decodeCursor(input.cursor, isListCursor) : undefined;
  const rows = await withTenant(db, tenant, (tx) =>
    tx
      .select()
      .from(validations)
      .where(
        and(
          input.status ? eq(validations.status, input.status) : undefined,
          after
            ? or(
                lt(validations.queued_at, new Date(after[0])),
                and(eq(validations.queued_at, new Date(after[0])), lt(validations.id, after[1])),
              )
            : undefined,
        ),
      )
      .orderBy(desc(validations.queued_at), desc(validations.id))
      .limit(input.limit + 1),
  );
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    items: page.map(presentValidation),
    nextCursor:
      rows.length > input.limit && last ? encodeCursor([last.queued_at.toISOString(), last.id]) : null,
  };
}

export type ResultFilters = {
  severity?: "error" | "warning" | "info" | undefined;
  rule?: string | undefined;
  lineFrom?: number | undefined;
  lineTo?: number | undefined;
};

function resultWhere(id: string, f: ResultFilters, afterSeq?: number): SQL | undefined {
  return and(
    eq(results.validation_id, id),
    f.severity ? eq(results.severity, f.severity) : undefined,
    f.rule ? eq(results.rule_id, f.rule) : undefined,
    f.lineFrom !== undefined ? gte(results.line, f.lineFrom) : undefined,
    f.lineTo !== undefined ? lte(results.line, f.lineTo) : undefined,
    afterSeq !== undefined ? gt(results.seq, afterSeq) : undefined,
  );
}

export function presentResult(r: ResultRow) {
  return { line: r.line, ruleId: r.rule_id, severity: r.severity, column: r.column, message: r.message };
}

const isSeq = (v: unknown): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= INT4_MAX;

export async function listResults(
  db: Database,
  tenant: string,
  id: string,
  input: ResultFilters & { limit: number; cursor?: string | undefined },
) {
  const afterSeq = input.cursor ? decodeCursor(input.cursor, isSeq) : undefined;
  return withTenant(db, tenant, async (tx) => {
    const [run] = await tx.select({ id: validations.id }).from(validations).where(eq(validations.id, id));
    if (!run) throw new DomainError("not_found", `Validation ${id} does not exist`);
    const rows = await tx
      .select()
      .from(results)
      .where(resultWhere(id, input, afterSeq))
      .orderBy(asc(results.seq))
      .limit(input.limit + 1);
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return {
      items: page.map(presentResult),
      nextCursor: rows.length > input.limit && last ? encodeCursor(last.seq) : null,
    };
  });
}

/** Pages of results in order, for the streamed CSV: each page is its own short tenant transaction. */
export async function* resultPages(
  db: Database,
  tenant: string,
  id: string,
  filters: ResultFilters,
  pageSize = 5000,
) {
  let afterSeq: number | undefined;
  for (;;) {
    const rows = await withTenant(db, tenant, (tx) =>
      tx
        .select()
        .from(results)
        .where(resultWhere(id, filters, afterSeq))
        .orderBy(asc(results.seq))
        .limit(pageSize),
    );
    if (rows.length === 0) return;
    yield rows;
    afterSeq = rows.at(-1)?.seq;
  }
}
