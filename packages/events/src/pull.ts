import { abortableSleep } from "@fig/retry";
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { NatsClient } from "./nats.ts";
import { ensureStreams } from "./streams.ts";

const MS_NS = 1_000_000;

export type DurablePullOptions = {
  nats: NatsClient;
  namespace: string;
  stream: string;
  /** Durable name: replicas sharing it share the work. */
  name: string;
  filterSubject: string;
  ackWaitMs: number;
  maxDeliver: number;
  /** Messages buffered ahead of the handler. */
  maxMessages: number;
  logger: Pick<Logger, "warn">;
  /** Settles the message (ack, nak or term) itself; a throw is logged and the loop reconnects. */
  handle(msg: JsMsg): Promise<void>;
};

/**
 * A durable, explicit-ack pull consumer declared idempotently (created, or updated to the declared
 * ack_wait/max_deliver) and consumed one message at a time, reconnecting after errors.
 * `stop()` stops pulling and waits for the message in hand.
 */
export function runDurablePull(options: DurablePullOptions) {
  const { nats, namespace, stream, name, filterSubject, ackWaitMs, maxDeliver, maxMessages, logger, handle } =
    options;
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;
  let stopped = new AbortController();

  async function ensureConsumer() {
    const jsm = await nats.manager();
    await ensureStreams(jsm, namespace);
    const exists = await jsm.consumers.info(stream, name).then(
      () => true,
      () => false,
    );
    if (exists)
      await jsm.consumers.update(stream, name, { ack_wait: ackWaitMs * MS_NS, max_deliver: maxDeliver });
    else {
      await jsm.consumers.add(stream, {
        durable_name: name,
        filter_subject: filterSubject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: ackWaitMs * MS_NS,
        max_deliver: maxDeliver,
      });
    }
  }

  async function run() {
    while (!stopping) {
      try {
        await ensureConsumer();
        const consumer = await (await nats.jetstream()).consumers.get(stream, name);
        messages = await consumer.consume({ max_messages: maxMessages });
        // stop() may have run while the consumer was being set up: it found no `messages` to close, and an
        // idle iterator below would never look at `stopping` again.
        // (close() resolves only once someone iterates, so it is not awaited here.)
        if (stopping) {
          void messages.close().catch(() => {});
          break;
        }
        for await (const msg of messages) {
          await handle(msg);
          if (stopping) break;
        }
      } catch (error) {
        if (stopping) break;
        logger.warn({ err: error, consumer: name }, "consumer: retrying in 1 s");
        await abortableSleep(1000, stopped.signal).catch(() => {});
      }
    }
  }

  return {
    start() {
      stopping = false;
      stopped = new AbortController();
      loop = run();
    },
    async stop() {
      stopping = true;
      stopped.abort();
      await messages?.close().catch(() => {});
      await loop;
    },
  };
}

export type BatchedPullOptions = Omit<DurablePullOptions, "handle" | "maxMessages"> & {
  /** Messages handed to `handleBatch` at most at once; twice as many are read ahead. */
  batchSize: number;
  /** Settles every message of the batch itself (ack, nak or term). */
  handleBatch(msgs: JsMsg[]): Promise<void>;
};

/**
 * A durable pull consumer whose messages are handled in batches: they queue while the previous batch is
 * handled, and reading pauses while 2 × batchSize wait. `stop()` stops reading, then handles what was
 * already received before it returns. The events consumer and the live data sync share it.
 */
export function runBatchedPull({ batchSize, handleBatch, ...options }: BatchedPullOptions) {
  const queue: JsMsg[] = [];
  let wakeApplier: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  let stopped = true;
  let applier: Promise<void> | undefined;

  async function applyLoop() {
    while (!stopped || queue.length > 0) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => {
          wakeApplier = resolve;
        });
        // Woken by the first message of a burst: one turn of the event loop lets the reader queue the rest
        // already received, so a burst becomes one batch rather than a batch of one and then the rest.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await handleBatch(queue.splice(0, batchSize));
      wakeReader?.();
    }
  }

  const pull = runDurablePull({
    ...options,
    maxMessages: 2 * batchSize,
    async handle(msg) {
      queue.push(msg);
      wakeApplier?.();
      while (queue.length >= 2 * batchSize && !stopped) {
        await new Promise<void>((resolve) => {
          wakeReader = resolve;
        });
      }
    },
  });

  return {
    start() {
      stopped = false;
      applier = applyLoop();
      pull.start();
    },
    async stop() {
      stopped = true;
      wakeReader?.();
      await pull.stop();
      wakeApplier?.();
      await applier;
    },
  };
}
