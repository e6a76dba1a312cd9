import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";

/** One message for JetStream: its subject, its header block as text (`envelopeHeaderBlock`) and its payload. */
export type OutgoingMessage = { subject: string; headers: string; data: string };

/** Publishes messages to JetStream and waits for the broker's acks; each message's error, or undefined once stored. */
export type AckedPublisher = {
  publish(messages: OutgoingMessage[], timeoutMs: number): Promise<(Error | undefined)[]>;
};

export class PublishError extends Error {
  override name = "PublishError";
}

type Batch = {
  /** The token of the batch's first message; message i's reply subject ends in base + i. */
  base: number;
  results: (Error | undefined)[];
  settled: boolean[];
  left: number;
  done: () => void;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Header bytes as nats.js's protocol layer takes them: it sends `headers.encode()` as they are. */
function encodedHeaders(block: string): MsgHdrs {
  const bytes = encoder.encode(block);
  return { encode: () => bytes } as unknown as MsgHdrs;
}

/** What the broker answered: undefined for a stored message (or a duplicate it dropped), else the error. */
function ackError(msg: Msg): Error | undefined {
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    return new PublishError(
      code === 503
        ? "no responders: no stream takes this subject (JetStream down, or the stream deleted)"
        : `JetStream answered with status ${code} ${msg.headers?.description ?? ""}`.trimEnd(),
    );
  }
  let ack: { stream?: string; error?: { code?: number; err_code?: number; description?: string } };
  try {
    ack = JSON.parse(decoder.decode(msg.data));
  } catch {
    return new PublishError("invalid JetStream ack (not JSON)");
  }
  if (ack.error)
    return new PublishError(
      `JetStream rejected the message: ${ack.error.description ?? "?"} (code ${ack.error.code ?? "?"}, err_code ${ack.error.err_code ?? "?"})`,
    );
  if (!ack.stream) return new PublishError("invalid JetStream ack (no stream)");
  return undefined;
}

/**
 * What `js.publish` does for each message (a request whose reply is the stream's ack), for a batch at once and
 * at a fraction of its cost per message: one reply subscription per connection (reply subjects `<inbox>.<n>`)
 * instead of a request object, a timer and three Error objects per message; one timer per batch; the header
 * block sent as the bytes it is. Messages are written in order on one connection, so the stream stores them in
 * that order; the acks are awaited together (nats.js writes the publishes of one turn of the event loop out
 * together). One publisher per connection, shared by the relays of a process.
 */
export function ackedPublisher(nc: NatsConnection): AckedPublisher {
  let publisher = publishers.get(nc);
  if (!publisher) {
    publisher = createAckedPublisher(nc);
    publishers.set(nc, publisher);
  }
  return publisher;
}

const publishers = new WeakMap<NatsConnection, AckedPublisher>();

function createAckedPublisher(nc: NatsConnection): AckedPublisher {
  const prefix = `${createInbox()}.`;
  let nextToken = 0;
  const inFlight = new Set<Batch>();

  function settle(batch: Batch, index: number, error: Error | undefined) {
    if (batch.settled[index]) return;
    batch.settled[index] = true;
    batch.results[index] = error;
    if (--batch.left === 0) batch.done();
  }

  nc.subscribe(`${prefix}*`, {
    callback(error, msg) {
      if (error) {
        // The subscription itself failed (a permissions error): every message waiting gets it.
        for (const batch of inFlight) for (let i = 0; i < batch.results.length; i++) settle(batch, i, error);
        return;
      }
      const token = Number(msg.subject.slice(prefix.length));
      for (const batch of inFlight) {
        const index = token - batch.base;
        if (index >= 0 && index < batch.results.length) {
          settle(batch, index, ackError(msg));
          return;
        }
      }
      // An ack after its batch timed out: that message is published and its row stays pending; the next
      // attempt republishes it with the same Nats-Msg-Id, which the stream drops.
    },
  });

  return {
    async publish(messages, timeoutMs) {
      const n = messages.length;
      if (n === 0) return [];
      const { promise, resolve } = Promise.withResolvers<void>();
      const batch: Batch = {
        base: nextToken,
        results: new Array(n).fill(undefined),
        settled: new Array(n).fill(false),
        left: n,
        done: resolve,
      };
      nextToken += n;
      inFlight.add(batch);
      const timer = setTimeout(() => {
        const timedOut = new PublishError(`no JetStream ack within ${timeoutMs} ms`);
        for (let i = 0; i < n; i++) settle(batch, i, timedOut);
      }, timeoutMs);
      try {
        for (let i = 0; i < n; i++) {
          const message = messages[i] as OutgoingMessage;
          try {
            nc.publish(message.subject, message.data, {
              reply: `${prefix}${batch.base + i}`,
              headers: encodedHeaders(message.headers),
            });
          } catch (error) {
            // The connection is closed or draining, or the message is too large: this one fails now.
            settle(batch, i, error as Error);
          }
        }
        await promise;
        return batch.results;
      } finally {
        clearTimeout(timer);
        inFlight.delete(batch);
      }
    },
  };
}
