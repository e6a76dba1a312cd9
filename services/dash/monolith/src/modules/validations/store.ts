import { type Database, withTenant } from "@fig/db";
import { DomainError, decodeCursor, encodeCursor, INT4_MAX } from "@fig/service";
import { and, asc, desc, eq, gt, gte, lt, lte, or } from "drizzle-orm";
import { findings, validations } from "../../db/schema.ts";

export type RunRow = typeof validations.$inferSelect;
type FindingRow = typeof findings.$inferSelect;

/** A run as the validation service shows it, plus `archived`. Monolith runs are always finished. */
export function presentRun(run: RunRow) {
  const completed = run.status === "completed";
  return {
    validationId: run.id,
    fileId: run.file_id,
    status: run.status,
    progress: { processedRows: run.rows ?? 0, percent: completed ? 100 : 0 },
    rows: run.rows,
    counts: {
      bySeverity: { error: 0, warning: 0, info: 0, ...run.counts_by_severity },
      byRule: run.counts_by_rule,
    },
    failureReason: run.failure_reason,
    attempts: 1,
    timings: {
      queuedAt: run.queued_at.toISOString(),
      startedAt: run.started_at.toISOString(),
      finishedAt: run.finished_at.toISOString(),
      durationMs: run.finished_at.getTime() - run.started_at.getTime(),
    },
    archived: run.archived,
  };
}

export function presentFinding(f: FindingRow) {
  return { line: f.line, ruleId: f.rule_id, severity: f.severity, column: f.column, message: f.message };
}

export async function getRun(db: Database, tenant: string, id: string): Promise<RunRow> {
  const [run] = await withTenant(db, tenant, (tx) =>
    tx.select().from(validations).where(eq(validations.id, id)),
  );
  if (!run) throw new DomainError("not_found", `Validation ${id} does not exist`);
  return run;
}

// List cursor: [queued_at ISO, id] of the last run on the page (newest first).
const isRunCursor = (v: unknown): v is [string, string] =>
  Array.isArray(v) &&
  v.length === 2 &&
  typeof v[0] === "string" &&
  !Number.isNaN(Date.parse(v[0])) &&
  typeof v[1] === "string" &&
  /^[0-9a-f-]{36}$/i.test(v[1]);

export async function listRuns(
  db: Database,
  tenant: string,
  input: { limit: number; cursor?: string | undefined; status?: string | undefined },
) {
  const after = input.cursor ? decodeCursor(input.cursor, isRunCursor) : undefined;
  const afterTime = after ? new Date(after[0]) : undefined;
  const rows = await withTenant(db, tenant, (tx) =>
    tx
      .select()
      .from(validations)
      .where(
        and(
          input.status ? eq(validations.status, input.status as RunRow["status"]) : undefined,
          after && afterTime
            ? or(
                lt(validations.queued_at, afterTime),
                and(eq(validations.queued_at, afterTime), lt(validations.id, after[1])),
              )
            : undefined,
        ),
      )
      .orderBy(desc(validations.queued_at), desc(validations.id))
      .limit(input.limit + 1),
  );
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  const more = rows.length > input.limit && last;
  return {
    items: page.map(presentRun),
    nextCursor: more ? encodeCursor([last.queued_at.toISOString(), last.id]) : null,
  };
}

export type FindingFilters = {
  severity?: "error" | "warning" | "info" | undefined;
  rule?: string | undefined;
  lineFrom?: number | undefined;
  lineTo?: number | undefined;
};

const isSeq = (v: unknown): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= INT4_MAX;

/** One page of a run's findings in order (after the `afterSeq` cursor), inside the tenant's transaction. */
function findingsPage(tx: Database, id: string, f: FindingFilters, limit: number, afterSeq?: number) {
  return tx
    .select()
    .from(findings)
    .where(
      and(
        eq(findings.validation_id, id),
        f.severity ? eq(findings.severity, f.severity) : undefined,
        f.rule ? eq(findings.rule_id, f.rule) : undefined,
        f.lineFrom === undefined ? undefined : gte(findings.line, f.lineFrom),
        f.lineTo === undefined ? undefined : lte(findings.line, f.lineTo),
        afterSeq === undefined ? undefined : gt(findings.seq, afterSeq),
      ),
    )
    .orderBy(asc(findings.seq))
    .limit(limit);
}

export async function listFindings(
  db: Database,
  tenant: string,
  id: string,
  input: FindingFilters & { limit: number; cursor?: string | undefined },
) {
  const afterSeq = input.cursor ? decodeCursor(input.cursor, isSeq) : undefined;
  await getRun(db, tenant, id);
  const rows = await withTenant(db, tenant, (tx) => findingsPage(tx, id, input, input.limit + 1, afterSeq));
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    items: page.map(presentFinding),
    nextCursor: rows.length > input.limit && last ? encodeCursor(last.seq) : null,
  };
}

/** Every matching finding, read in pages (the legacy CSV export builds the file in memory). */
export async function allFindings(db: Database, tenant: string, id: string, filters: FindingFilters) {
  const all: FindingRow[] = [];
  let afterSeq: number | undefined;
  for (;;) {
    const rows = await withTenant(db, tenant, (tx) => findingsPage(tx, id, filters, 5000, afterSeq));
    if (rows.length === 0) return all;
    all.push(...rows);
    afterSeq = rows.at(-1)?.seq;
  }
}
