import type { Decision, PromotionEvent, PromotionRecord, Weights } from "../schema.ts";
import { RecordChangedError } from "../store.ts";
import type { PromotionTarget } from "./open.ts";
import type { LiveProgress, PromoteOptions } from "./options.ts";

export const iso = () => new Date().toISOString();

export const promotionEvent = (
  actor: string,
  what: PromotionEvent["what"],
  detail: string | null,
  weights?: Weights,
): PromotionEvent => ({ at: iso(), what, actor, detail, ...(weights ? { weights } : {}) });

/** The promotion stopped without a verdict of its own: paused by a signal, rolled back or taken over elsewhere. */
export class Stop extends Error {
  constructor(
    readonly kind: "interrupted" | "aborted" | "superseded",
    message: string,
  ) {
    super(message);
  }
}

/**
 * One running promotion: its record (and KV revision), the route's revision at the gateway, and whether it
 * was paused or stopped from outside. The steps read and change it; `commit` is the only way to save.
 */
export class PromotionRun {
  readonly options: PromoteOptions;
  readonly target: PromotionTarget;
  readonly id: string;
  readonly route: string;
  readonly candidate: string;
  readonly started: number;
  readonly log: (line: string) => void;
  current: PromotionRecord;
  revision: number;
  routeRevision: number;
  paused = false;
  stopReason: Stop | undefined;
  /** The gate window running now, if any: aborted on pause or stop. */
  windowStop: AbortController | undefined;
  /** Wakes the wait while paused. */
  pauseWake: (() => void) | undefined;

  constructor(init: {
    options: PromoteOptions;
    target: PromotionTarget;
    id: string;
    current: PromotionRecord;
    revision: number;
  }) {
    this.options = init.options;
    this.target = init.target;
    this.id = init.id;
    this.route = init.options.route;
    this.candidate = init.options.candidate;
    this.log = init.options.log ?? (() => {});
    this.current = init.current;
    this.revision = init.revision;
    this.routeRevision = init.target.live.revision;
    this.started = Date.parse(init.current.startedAt);
  }

  event(what: PromotionEvent["what"], detail: string | null, weights?: Weights): PromotionEvent {
    return promotionEvent(this.options.actor, what, detail, weights);
  }

  /** Applies `mutate` to the latest record and saves it; re-reads and re-applies when another command wrote first. */
  async commit(mutate: (r: PromotionRecord) => void): Promise<PromotionRecord> {
    const { store } = this.options;
    for (let attempt = 0; ; attempt++) {
      const next = structuredClone(this.current);
      mutate(next);
      next.updatedAt = iso();
      try {
        this.revision = await store.save(next, this.revision);
        this.current = next;
        return this.current;
      } catch (error) {
        if (!(error instanceof RecordChangedError) || attempt > 5) throw error;
        const fresh = await store.load(this.route, this.id);
        if (!fresh) throw error;
        this.current = fresh.value;
        this.revision = fresh.revision;
      }
    }
  }

  halt(reason: Stop) {
    this.stopReason ??= reason;
    this.windowStop?.abort();
    this.pauseWake?.();
  }

  checkStop() {
    if (this.stopReason) throw this.stopReason;
  }

  async recordDecision(decision: Decision) {
    await this.commit((r) => {
      r.decisions.push(decision);
    });
    this.log(
      `step ${decision.step} of ${decision.of} ${JSON.stringify(decision.weights)}: ${decision.verdict} (${decision.reason})`,
    );
    const { step, of, attempt, verdict, reason, minRequests, gate, gateway, shadow } = decision;
    await this.audit({
      eventId: `promotion:${this.id}:step:${step}:attempt:${attempt}`,
      kind: "promotion-step",
      to: decision.weights,
      reason: `${verdict}: ${reason}`,
      data: {
        promotion: this.id,
        candidate: this.candidate,
        step,
        of,
        attempt,
        verdict,
        minRequests,
        gate: gate ? { verdict: gate.verdict, numbers: gate.numbers, thresholds: gate.thresholds } : null,
        gateway: gateway
          ? { numbers: gateway.numbers, errors: gateway.errors, thresholds: gateway.thresholds }
          : null,
        // The counts only: the samples hold response values, other tenants' data.
        shadow: shadow
          ? {
              compared: shadow.compared,
              mismatches: shadow.mismatches,
              mismatchRate: shadow.mismatchRate,
              budget: shadow.budget,
              candidateErrors: shadow.candidateErrors,
            }
          : null,
      },
    });
  }

  /** The promotion's end (promoted or rolled back) for the audit log, with the weights it left. */
  async recordEnd(record: PromotionRecord) {
    await this.audit({
      eventId: `promotion:${this.id}:end:${record.state}`,
      kind: "promotion-end",
      to: record.weights,
      reason: `${record.state}: ${record.reason ?? ""}`,
      data: {
        promotion: this.id,
        candidate: this.candidate,
        state: record.state,
        steps: record.steps,
        decisions: record.decisions.length,
      },
    });
  }

  /** Records for the audit log when the run has a recorder; the recorder never throws (it retries itself). */
  private async audit(entry: {
    eventId: string;
    kind: string;
    to: unknown;
    reason: string;
    data: Record<string, unknown>;
  }) {
    const audit = this.options.audit;
    if (!audit) return;
    await audit.recorder.record({
      ...entry,
      actor: { sub: this.options.actor, tenant: audit.tenant },
      subject: this.route,
      from: null,
    });
  }

  /** Tells the live display where the promotion is (`onProgress`). */
  progress(p: Pick<LiveProgress, "step" | "phase" | "stepElapsedMs" | "p95" | "errorRate" | "requests">) {
    this.options.onProgress?.({
      ...p,
      of: this.current.steps.length,
      weights: this.current.weights,
      elapsedMs: Date.now() - this.started,
    });
  }
}
