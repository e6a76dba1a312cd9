import {
  ClaimsHeaderError,
  createReferenceSnapshot,
  createRuleEngine,
  type Finding,
  parseClaims,
  type ReferenceSnapshot,
} from "@dash/billing";
import { type Database, withTenant } from "@fig/db";
import { codes, contexts, establishments, findings, rules, validations } from "../../db/schema.ts";
import { type Caller, loadFile } from "../files/store.ts";
import type { RunRow } from "./store.ts";

const INSERT_BATCH = 2000;

/** The rule engine's view of the monolith's own reference tables. */
async function referenceSnapshot(db: Database): Promise<ReferenceSnapshot> {
  const [codeRows, contextRows, establishmentRows, ruleRows] = await Promise.all([
    db.select().from(codes),
    db.select().from(contexts),
    db.select().from(establishments),
    db.select().from(rules),
  ]);
  return createReferenceSnapshot({
    codes: codeRows,
    contexts: contextRows,
    establishments: establishmentRows,
    rules: ruleRows,
  });
}

/** The file as one chunk: the legacy app has it in memory already, so parsing never waits on I/O. */
function inMemory(content: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(content);
      controller.close();
    },
  });
}

/**
 * Validates a whole file inside the caller's request, then stores the finished run and every finding in one
 * transaction. CPU-bound from the first line to the last: while it runs, this process answers nothing else.
 * That is the behaviour the validation service replaces (202, a worker); it is kept here on purpose.
 */
export async function validateNow(
  db: Database,
  caller: Caller,
  fileId: string,
  { today }: { today?: string } = {},
): Promise<RunRow> {
  const queuedAt = new Date();
  const file = await loadFile(db, caller.tenant, fileId, "body.fileId");
  const engine = createRuleEngine(await referenceSnapshot(db), today ? { today } : {});
  const startedAt = new Date();
  const found: Finding[] = [];
  let rows = 0;
  let failureReason: string | null = null;
  try {
    if (file.bytes > 0) {
      for await (const line of parseClaims(inMemory(file.content))) {
        rows++;
        found.push(...line.findings, ...engine.check(line));
      }
      found.push(...engine.finish());
    }
    if (rows === 0)
      found.push({
        line: 0,
        ruleId: "no-rows",
        severity: "error",
        column: null,
        message: "The file has no data rows",
      });
  } catch (error) {
    if (!(error instanceof ClaimsHeaderError)) throw error;
    failureReason = error.message;
  }
  const bySeverity: Record<string, number> = { error: 0, warning: 0, info: 0 };
  const byRule: Record<string, number> = {};
  for (const f of found) {
    bySeverity[f.severity] = (bySeverity[f.severity] ?? 0) + 1;
    byRule[f.ruleId] = (byRule[f.ruleId] ?? 0) + 1;
  }
  const id = crypto.randomUUID();
  return withTenant(db, caller.tenant, async (tx) => {
    const [run] = await tx
      .insert(validations)
      .values({
        id,
        tenant_id: caller.tenant,
        file_id: file.id,
        status: failureReason ? "failed" : "completed",
        rows: failureReason ? null : rows,
        counts_by_severity: failureReason ? {} : bySeverity,
        counts_by_rule: failureReason ? {} : byRule,
        failure_reason: failureReason,
        requested_by: caller.sub,
        queued_at: queuedAt,
        started_at: startedAt,
        finished_at: new Date(),
      })
      .returning();
    if (!failureReason)
      for (let start = 0; start < found.length; start += INSERT_BATCH) {
        const batch = found.slice(start, start + INSERT_BATCH);
        await tx.insert(findings).values(
          batch.map((f, i) => ({
            validation_id: id,
            tenant_id: caller.tenant,
            seq: start + i,
            line: f.line,
            rule_id: f.ruleId,
            severity: f.severity,
            column: f.column,
            message: f.message,
          })),
        );
      }
    return run as RunRow;
  });
}
