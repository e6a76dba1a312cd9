import {
  type EventData,
  ensureStreams,
  type FigEvent,
  type NatsClient,
  readMessageEnvelope,
  streamNames,
  subjectOf,
} from "@fig/events";
import "./event-catalog.ts"; // reference.changed, which the feed reads
import type { ReferenceReadCache } from "./read-cache.ts";

type JetStream = Awaited<ReturnType<NatsClient["jetstream"]>>;
type OrderedOptions = Exclude<Parameters<JetStream["consumers"]["get"]>[1], string | undefined>;
type Messages = Awaited<ReturnType<Awaited<ReturnType<JetStream["consumers"]["get"]>>["consume"]>>;

export type ReadCacheFeedOptions = {
  cache: ReferenceReadCache;
  nats: NatsClient;
  namespace: string;
  /** Whose reference.changed to follow: the service's own subject unless named (the monolith's is `monolith`). */
  source?: string;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Called after each event has invalidated the cache (tests synchronize on it; the bench times it). */
  onInvalidated?: (event: FigEvent<"reference.changed">) => void;
  /** Wait between attempts while NATS or the stream is unreachable. */
  retryMs?: number;
};

export type ReadCacheFeed = { name: string; start(): void; stop(): Promise<void> };

// Notifications after which the consumer may have missed or may still miss events: read from the database.
const LOST = new Set(["heartbeats_missed", "consumer_deleted", "stream_not_found", "consumer_not_found"]);

/**
 * Keeps one replica's read cache honest: an ordered (per-replica, non-durable, in-memory) JetStream consumer of
 * `reference.changed`, created on start from the newest message, drops each changed key (the whole table for a
 * truncated change). The cache is online only while this consumer runs on a connected client: a disconnect or
 * a lost consumer turns it offline (every read goes to the database) until the consumer is back, and each
 * switch empties it, so events missed meanwhile cannot leave a stale answer.
 *
 * @example
 * const feed = createReadCacheFeed({ cache, nats, namespace, logger });
 * feed.start(); // a bootstrap component: { name, start, stop }
 */
export function createReadCacheFeed({
  cache,
  nats,
  namespace,
  source,
  logger,
  onInvalidated,
  retryMs = 1000,
}: ReadCacheFeedOptions): ReadCacheFeed {
  const subject = subjectOf(namespace, "reference.changed", source);
  let stopping = false;
  let messages: Messages | undefined;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let watching = false;

  function apply(event: FigEvent<"reference.changed">) {
    const data = event.data as EventData<"reference.changed">;
    cache.invalidate(data.table, data.truncated ? undefined : data.keys);
    onInvalidated?.(event);
  }

  async function watchConnection() {
    const nc = await nats.connection();
    for await (const status of nc.status()) {
      if (stopping) return;
      // Reconnected: the ordered consumer resumes where it stopped; what was cached before is dropped.
      if (status.type === "disconnect") cache.setOnline(false);
      else if (status.type === "reconnect" && messages) cache.setOnline(true);
    }
  }

  // Lost: the consumer may be missing events, so the cache is offline. Anything the server sends afterwards
  // (a heartbeat, a new pull, a message) shows the same ordered consumer resumed without a gap: back online.
  let lost = false;
  function healthy() {
    if (!lost) return;
    lost = false;
    cache.setOnline(true);
  }

  async function watchConsumer(current: Messages) {
    for await (const note of current.status()) {
      if (stopping || current !== messages) return;
      if (LOST.has(note.type)) {
        lost = true;
        cache.setOnline(false);
      } else if (note.type === "ordered_consumer_recreated") {
        cache.setOnline(false);
        lost = true;
        healthy();
      } else if (note.type === "heartbeat" || note.type === "next") healthy();
    }
  }

  async function consumeOnce() {
    const jsm = await nats.manager();
    if (!watching) {
      watching = true;
      void watchConnection().catch(() => {
        watching = false;
      });
    }
    await ensureStreams(jsm, namespace);
    const js = await nats.jetstream();
    const options: OrderedOptions = {
      filter_subjects: subject,
      deliver_policy: "new" as OrderedOptions["deliver_policy"],
    };
    const consumer = await js.consumers.get(streamNames(namespace).events, options);
    const current = await consumer.consume({ max_messages: 256 });
    messages = current;
    lost = false;
    if (stopping) return;
    void watchConsumer(current).catch(() => {});
    // The consumer exists from here on: any change committed after this point reaches `apply`.
    cache.setOnline(true);
    logger.info({ subject }, "read cache: following reference.changed");
    for await (const msg of current) {
      healthy();
      try {
        apply(readMessageEnvelope(msg) as FigEvent<"reference.changed">);
      } catch (error) {
        // An event we cannot read may name keys we cannot drop: start over from an empty cache.
        logger.warn({ err: error, seq: msg.seq }, "read cache: unreadable event; cache emptied");
        cache.setOnline(false);
        cache.setOnline(true);
      }
      if (stopping) break;
    }
  }

  async function run() {
    while (!stopping) {
      try {
        await consumeOnce();
      } catch (error) {
        if (stopping) break;
        logger.warn({ err: error, subject }, "read cache: feed down, reading from the database; retrying");
      }
      cache.setOnline(false);
      messages = undefined;
      if (!stopping)
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, retryMs);
        });
    }
  }

  return {
    name: "reference-read-cache",
    start() {
      stopping = false;
      loop = run();
    },
    async stop() {
      stopping = true;
      cache.setOnline(false);
      wake?.();
      await messages?.close().catch(() => {});
      await loop;
    },
  };
}
