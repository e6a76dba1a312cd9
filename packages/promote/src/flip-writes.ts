import type { PromotionRecord } from "./schema.ts";
import { type createPromotionStore, RecordChangedError } from "./store.ts";

/** What the write-ownership flip reports (packages/datasync's FlipResult, as far as a promotion records it). */
export type FlipSummary = {
  outcome: "flipped" | "refused";
  from: string;
  to: string;
  reason: string | null;
  heldMs: number;
  heldWrites: number;
  drainMs: number;
  verifyMs: number;
  totalMs: number;
  tables: { table: string; count: number; equal: boolean }[];
};

export type FlipWritesOutcome = { flipped: boolean; reason: string; record: PromotionRecord };

const numbers = (f: FlipSummary) =>
  `writes held ${f.heldMs} ms (${f.heldWrites} waited), drain ${f.drainMs} ms, verify ${f.verifyMs} ms, ` +
  `total ${f.totalMs} ms; ${f.tables.map((t) => `${t.table} ${t.count}${t.equal ? "" : " MISMATCH"}`).join(", ")}`;

/**
 * `--flip-writes`, the promotion's last optional step, run once 100 % reads passed their gate: `flip` moves the
 * route's write ownership (packages/datasync's flip: hold → drain → verify → owner → release). The flip and its
 * numbers land in the promotion's events; a refused flip (a failed verify) changes no ownership and the
 * promotion ends "completed, writes not flipped" with the reason.
 */
export async function flipWritesStep({
  store,
  route,
  id,
  actor,
  flip,
  log = () => {},
}: {
  store: Pick<ReturnType<typeof createPromotionStore>, "load" | "save">;
  route: string;
  id: string;
  actor: string;
  flip: () => Promise<FlipSummary>;
  log?: (line: string) => void;
}): Promise<FlipWritesOutcome> {
  log(`flip writes: moving the write ownership of ${route}`);
  let summary: FlipSummary | undefined;
  let failure: string | null = null;
  try {
    summary = await flip();
  } catch (error) {
    failure = (error as Error).message;
  }
  const flipped = summary?.outcome === "flipped";
  const reason = flipped
    ? `every step passed; writes flipped ${summary?.from} → ${summary?.to}`
    : `completed, writes not flipped: ${summary?.reason ?? failure}`;
  const detail = summary
    ? `${summary.outcome} ${summary.from} → ${summary.to}: ${numbers(summary)}`
    : failure;
  for (let attempt = 0; ; attempt++) {
    const stored = await store.load(route, id);
    if (!stored) throw new Error(`promotion ${id} of ${route} is gone`);
    const record = stored.value;
    record.reason = reason;
    record.updatedAt = new Date().toISOString();
    record.events.push({
      at: record.updatedAt,
      what: "flip-writes",
      actor,
      detail: flipped ? detail : `${reason}${summary ? `; ${detail}` : ""}`,
    });
    try {
      await store.save(record, stored.revision);
      log(`${route}: ${reason}`);
      return { flipped, reason, record };
    } catch (error) {
      if (!(error instanceof RecordChangedError) || attempt >= 3) throw error;
    }
  }
}
