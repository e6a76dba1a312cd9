import type { Database } from "@fig/db";
import {
  EnvelopeError,
  type NatsClient,
  readMessageEnvelope,
  runDurablePull,
  streamNames,
  subjectOf,
} from "@fig/events";
import "@dash/billing-validation/events"; // validation.requested, the jobs it takes
import { type Backoff, backoffDelayMs } from "@fig/retry";
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { FileStore } from "../domain/object-store.ts";
import { finish, type RunContext, runValidation } from "./run-validation.ts";

/** Redelivery delay after a failed run: 2 s, 4 s, … up to 30 s. */
const RETRY_BACKOFF: Backoff = { initialMs: 2000, maxMs: 30_000 };

export type WorkerOptions = {
  db: Database;
  store: FileStore;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  progressEveryRows: number;
  /** Findings per insert (default 2,000). */
  resultBatchSize?: number;
  ackWaitMs: number;
  maxDeliver: number;
  today?: string;
  /** Durable consumer name shared by every worker replica (the work is split between them). */
  name?: string;
  /** Test hook, passed to each run: see RunContext.afterProgress. */
  afterProgress?: RunContext["afterProgress"];
};

/**
 * Takes `validation.requested` jobs from the work-queue stream, one at a time, and runs them.
 * The job is acknowledged only when the run is finished; while it runs, `working()` heartbeats keep
 * JetStream from redelivering it, and a worker that dies mid-run has its job redelivered after ack_wait.
 */
export function createValidationWorker(options: WorkerOptions) {
  const { nats, namespace, logger, ackWaitMs, maxDeliver, name = "validation-worker" } = options;

  async function handle(msg: JsMsg) {
    let tenant: string | undefined;
    let validationId: string | undefined;
    try {
      const event = readMessageEnvelope(msg);
      if (event.type !== "validation.requested" || !event.tenant)
        throw new EnvelopeError("not a validation job");
      tenant = event.tenant;
      validationId = (event.data as { validationId: string }).validationId;
    } catch (error) {
      logger.error({ err: error, seq: msg.seq }, "worker: malformed job; dropped");
      msg.term();
      return;
    }
    const heartbeat = setInterval(() => msg.working(), Math.max(500, ackWaitMs / 3));
    const started = performance.now();
    try {
      logger.info({ validationId, tenant, delivery: msg.info.deliveryCount }, "worker: validation started");
      const outcome = await runValidation(
        { ...options, onProgress: () => msg.working(), ...(options.today ? { today: options.today } : {}) },
        tenant,
        validationId,
      );
      msg.ack();
      logger.info(
        { validationId, outcome, ms: Math.round(performance.now() - started) },
        "worker: validation finished",
      );
    } catch (error) {
      if (msg.info.deliveryCount >= maxDeliver) {
        await finish(options, tenant, validationId, started, {
          status: "failed",
          reason: `Internal error after ${maxDeliver} attempts`,
        }).catch(() => {});
        msg.term();
        logger.error({ err: error, validationId }, "worker: validation failed for the last time");
      } else {
        msg.nak(backoffDelayMs(RETRY_BACKOFF, msg.info.deliveryCount));
        logger.warn({ err: error, validationId }, "worker: validation failed; will retry");
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  // One job at a time per worker: a run is CPU-bound, parallelism comes from more workers.
  const pull = runDurablePull({
    nats,
    namespace,
    stream: streamNames(namespace).jobs,
    name,
    filterSubject: subjectOf(namespace, "validation.requested"),
    ackWaitMs,
    maxDeliver,
    maxMessages: 1,
    logger,
    handle,
  });

  return {
    async start() {
      pull.start();
      logger.info({ namespace }, "validation worker started");
    },
    /** Stops taking jobs; a run in progress finishes (and is acknowledged) first. */
    stop: () => pull.stop(),
  };
}
