import { type AuditRecord, type AuditSubmission, appendEntries } from "@fig/audit";
import type { DatabaseHandle } from "@fig/db";
import {
  deadLetterSubject,
  type FigEvent,
  type NatsClient,
  readMessageEnvelope,
  runBatchedPull,
  streamNames,
} from "@fig/events";
import type { JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { identityRecord } from "./identity.ts";

export type AuditConsumerOptions = {
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  /** Redelivery when the append neither commits nor fails (a crash). */
  ackWaitMs?: number;
  batchSize?: number;
};

/** The two durable consumers: Fig's control-plane acts, and the identity service's events. */
export const AUDIT_CONSUMERS = {
  acts: { name: "audit-acts", subject: (ns: string) => `${ns}.events.audit.recorded.>` },
  identity: { name: "audit-identity", subject: (ns: string) => `${ns}.events.identity.>` },
} as const;

function recordOf(event: FigEvent): AuditRecord | undefined {
  if (event.type === "audit.recorded") return event.data as AuditRecord;
  return identityRecord(event);
}

/**
 * Appends what producers publish, exactly once: a batch is appended in one transaction (an event id the log
 * has already is skipped), then acknowledged; a failed append is redelivered with backoff, without limit, so a
 * database outage delays the log and never drops from it. A message that is not a valid event is dead-lettered.
 */
export function createAuditConsumers(options: AuditConsumerOptions) {
  const { database, nats, namespace, logger, ackWaitMs = 30_000, batchSize = 100 } = options;

  function consumer({ name, subject }: { name: string; subject: (ns: string) => string }) {
    async function deadLetter(msg: JsMsg, error: unknown) {
      const h = natsHeaders();
      for (const [key, values] of msg.headers ?? [])
        if (!key.toLowerCase().startsWith("nats-")) for (const v of values) h.append(key, v);
      h.set("fig-dlq-consumer", name);
      h.set(
        "fig-dlq-error",
        String((error as Error)?.message ?? error)
          .replace(/[\r\n]+/g, " ")
          .slice(0, 1000),
      );
      h.set("fig-dlq-subject", msg.subject);
      h.set("fig-dlq-stream-seq", String(msg.seq));
      h.set("fig-dlq-time", new Date().toISOString());
      await (await nats.jetstream()).publish(deadLetterSubject(namespace, name), msg.data, { headers: h });
    }

    async function handleBatch(batch: JsMsg[]) {
      const submissions: AuditSubmission[] = [];
      const settled: JsMsg[] = [];
      for (const msg of batch) {
        try {
          const event = readMessageEnvelope(msg);
          const record = recordOf(event);
          if (record) submissions.push({ eventId: event.id, record });
          settled.push(msg);
        } catch (error) {
          try {
            await deadLetter(msg, error);
            msg.term();
            logger.error(
              { err: error, consumer: name, seq: msg.seq },
              "audit: malformed message dead-lettered",
            );
          } catch (publishError) {
            logger.error({ err: publishError, consumer: name }, "audit: could not dead-letter; will retry");
            msg.nak(5000);
          }
        }
      }
      if (settled.length === 0) return;
      try {
        const { appended, duplicates } = await appendEntries(database.db, submissions);
        for (const msg of settled) msg.ack();
        logger.debug(
          { consumer: name, appended: appended.length, duplicates: duplicates.length },
          "audit: appended",
        );
      } catch (error) {
        const deliveries = Math.max(...settled.map((m) => m.info.deliveryCount));
        const delay = Math.min(30_000, 250 * 2 ** Math.min(deliveries, 8));
        for (const msg of settled) msg.nak(delay);
        logger.error(
          { err: error, consumer: name, size: settled.length, retryInMs: delay },
          "audit: append failed; will retry",
        );
      }
    }

    return runBatchedPull({
      nats,
      namespace,
      stream: streamNames(namespace).events,
      name,
      filterSubject: subject(namespace),
      ackWaitMs,
      // Never give up on an entry: -1 is JetStream's "no limit".
      maxDeliver: -1,
      batchSize,
      logger,
      handleBatch,
    });
  }

  const pulls = [consumer(AUDIT_CONSUMERS.acts), consumer(AUDIT_CONSUMERS.identity)];
  return {
    async start() {
      for (const pull of pulls) pull.start();
      logger.info({ consumers: pulls.length }, "audit consumers started");
    },
    async stop() {
      await Promise.all(pulls.map((pull) => pull.stop()));
    },
  };
}
