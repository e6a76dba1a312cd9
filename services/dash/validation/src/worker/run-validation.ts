import { ClaimsHeaderError, createRuleEngine, parseClaims } from "@dash/billing";
import { type Database, withTenant } from "@fig/db";
import "@dash/billing-validation/events"; // the events it records
import { enqueueEvent } from "@fig/events";
import { eq, sql } from "drizzle-orm";
import { files, results, validations } from "../db/schema.ts";
import type { FileStore } from "../domain/object-store.ts";
import { loadReferenceSnapshot } from "../domain/reference-model.ts";
import { createResultsWriter, type FindingCounts } from "./results-writer.ts";

export type RunContext = {
  db: Database;
  store: FileStore;
  /** Called every `progressEveryRows` rows (and used to tell JetStream the job is still alive). */
  onProgress?: () => void;
  progressEveryRows: number;
  /** The day rules treat as "today" (service dates in the future, 90-day limit), YYYY-MM-DD. */
  today?: string;
  resultBatchSize?: number;
  /**
   * Test hook (unset in services): awaited after each progress update has committed, so a test can hold a run
   * mid-way (the crash test kills it there, the SSE test sees every step). JetStream heartbeats continue meanwhile.
   */
  afterProgress?: (progress: { validationId: string; processedRows: number }) => Promise<void> | void;
};

export type RunOutcome = "completed" | "failed" | "skipped";

/**
 * Lines between two turns of the event loop. Without them it turns only when the parser waits for the next
 * chunk, so a write in flight (5 round trips for a progress update) and the next chunk's fetch wait for that.
 */
const YIELD_EVERY_ROWS = 1000;
/** Lines between two looks at the worker's RSS (`process.memoryUsage.rss()`: ~70 µs a call). */
const CHECK_RSS_EVERY_ROWS = 10_000;
/**
 * RSS above which the worker runs a full collection (it falls to 200–240 MiB): the peak stays within 300 MiB
 * (230–280 MiB in the bench, 250,000 to 2,000,000 lines), with 2–4 collections per million lines instead of 20.
 */
const COLLECT_ABOVE_RSS_BYTES = 256 * 2 ** 20;
/** Lines between two collections at least, so an RSS that stays above the mark never collects more often. */
const MIN_ROWS_BETWEEN_COLLECTIONS = 50_000;

/**
 * Validates one run from start to end. Safe to repeat: a redelivered job (after a crash) deletes the partial
 * results of the earlier attempt and writes one complete set; a run already finished is left alone.
 */
export async function runValidation(
  ctx: RunContext,
  tenant: string,
  validationId: string,
): Promise<RunOutcome> {
  const { db } = ctx;
  const started = performance.now();
  const claimed = await withTenant(db, tenant, async (tx) => {
    const [run] = await tx.select().from(validations).where(eq(validations.id, validationId)).for("update");
    if (!run || run.status === "completed" || run.status === "failed") return null;
    await tx.delete(results).where(eq(results.validation_id, validationId));
    await tx
      .update(validations)
      .set({
        status: "processing",
        attempts: sql`${validations.attempts} + 1`,
        started_at: new Date(),
        processed_rows: 0,
        processed_bytes: 0,
      })
      .where(eq(validations.id, validationId));
    const [file] = await tx.select().from(files).where(eq(files.id, run.file_id));
    return { run, file };
  });
  if (!claimed) return "skipped";
  const { file } = claimed;

  const writer = createResultsWriter(db, tenant, validationId, ctx.resultBatchSize ?? 2000);

  let rows = 0;
  let collectedAt = 0; // the line of the last full collection
  let bytes = 0;
  let engine: ReturnType<typeof createRuleEngine> | undefined;
  try {
    const content = file ? await ctx.store.get(file.object_name) : null;
    if (!content) throw new ClaimsHeaderError("The file's content is missing from the object store");
    const counted = content.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    engine = createRuleEngine(await loadReferenceSnapshot(db), ctx.today ? { today: ctx.today } : {});
    if (file && file.bytes > 0) {
      for await (const line of parseClaims(counted)) {
        rows++;
        // Awaited only when a write has to wait for the one in flight: most lines never leave this loop.
        const full = writer.add(line.findings, engine.check(line));
        if (full) await full;
        if (rows % YIELD_EVERY_ROWS === 0) await new Promise((resolve) => setImmediate(resolve));
        if (rows % ctx.progressEveryRows === 0) {
          if (ctx.afterProgress) {
            await writer.progress(rows, bytes, ctx.onProgress);
            await writer.flush(); // the hook is promised a committed update
            await ctx.afterProgress({ validationId, processedRows: rows });
          } else if (writer.idle) {
            // With a write still in flight this update is left to the next one (or to the run's end): the
            // reader never waits for a progress update.
            await writer.progress(rows, bytes, ctx.onProgress);
          }
        }
        // JSC collects the per-line garbage lazily: left alone, RSS grows with the file although what is live
        // stays flat. A full collection when RSS passes the mark holds it; collecting on a fixed schedule
        // (every 50,000 lines) cost 10–20 % of the run's CPU, most of it before RSS needed it.
        if (
          rows % CHECK_RSS_EVERY_ROWS === 0 &&
          rows - collectedAt >= MIN_ROWS_BETWEEN_COLLECTIONS &&
          process.memoryUsage.rss() > COLLECT_ABOVE_RSS_BYTES
        ) {
          Bun.gc(true);
          collectedAt = rows;
        }
      }
      await writer.add(engine.finish());
    } else {
      await counted.cancel();
    }
    if (rows === 0) {
      await writer.add([
        { line: 0, ruleId: "no-rows", severity: "error", column: null, message: "The file has no data rows" },
      ]);
    }
    await writer.flush();
  } catch (error) {
    await writer.abandon();
    if (!(error instanceof ClaimsHeaderError)) throw error;
    await finish(ctx, tenant, validationId, started, { status: "failed", reason: (error as Error).message });
    return "failed";
  } finally {
    engine?.close();
  }
  await finish(ctx, tenant, validationId, started, {
    status: "completed",
    rows,
    bytes,
    counts: writer.counts,
  });
  return "completed";
}

type Ending =
  | { status: "failed"; reason: string }
  | {
      status: "completed";
      rows: number;
      bytes: number;
      counts: FindingCounts;
    };

/** Marks the run finished and records its terminal event, in one tenant transaction. */
export async function finish(
  ctx: Pick<RunContext, "db">,
  tenant: string,
  validationId: string,
  started: number,
  ending: Ending,
) {
  const durationMs = Math.round(performance.now() - started);
  await withTenant(ctx.db, tenant, async (tx) => {
    if (ending.status === "failed") {
      await tx
        .update(validations)
        .set({
          status: "failed",
          failure_reason: ending.reason,
          finished_at: new Date(),
          duration_ms: durationMs,
        })
        .where(eq(validations.id, validationId));
      await enqueueEvent(
        tx,
        "validation.failed",
        { validationId, reason: ending.reason },
        { tenant, subject: `validations/${validationId}` },
      );
      return;
    }
    await tx
      .update(validations)
      .set({
        status: "completed",
        rows: ending.rows,
        processed_rows: ending.rows,
        processed_bytes: ending.bytes,
        counts_by_severity: ending.counts.bySeverity,
        counts_by_rule: ending.counts.byRule,
        finished_at: new Date(),
        duration_ms: durationMs,
      })
      .where(eq(validations.id, validationId));
    await enqueueEvent(
      tx,
      "validation.completed",
      {
        validationId,
        rows: ending.rows,
        errors: ending.counts.bySeverity.error ?? 0,
        warnings: ending.counts.bySeverity.warning ?? 0,
        durationMs,
      },
      { tenant, subject: `validations/${validationId}` },
    );
  });
}
