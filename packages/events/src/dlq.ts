import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { NatsClient } from "./nats.ts";
import { streamNames } from "./subjects.ts";

export type DeadLetter = {
  /** Sequence in the dead-letter stream: the id `show` and `replay` take. */
  seq: number;
  consumer: string;
  error: string;
  deliveries: number;
  subject: string;
  eventId: string | undefined;
  eventType: string | undefined;
  deadLetteredAt: string | undefined;
  data: string;
};

function toDeadLetter(m: StoredMsg): DeadLetter {
  const get = (k: string) => m.header?.get(k) || undefined;
  return {
    seq: m.seq,
    consumer: get("fig-dlq-consumer") ?? "",
    error: get("fig-dlq-error") ?? "",
    deliveries: Number(get("fig-dlq-deliveries") ?? 0),
    subject: get("fig-dlq-subject") ?? "",
    eventId: get("ce-id"),
    eventType: get("ce-type"),
    deadLetteredAt: get("fig-dlq-time"),
    data: new TextDecoder().decode(m.data),
  };
}

async function getMessage(jsm: JetStreamManager, stream: string, seq: number): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(stream, { seq }).catch(() => null);
}

/** Dead letters of a namespace, oldest first (at most `limit`). */
export async function listDeadLetters(
  nats: NatsClient,
  namespace: string,
  limit = 100,
): Promise<DeadLetter[]> {
  const jsm = await nats.manager();
  const stream = streamNames(namespace).deadLetters;
  // No stream yet means nothing was ever dead-lettered in this namespace.
  const info = await jsm.streams.info(stream).catch(() => null);
  if (!info) return [];
  const out: DeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
    const m = await getMessage(jsm, stream, seq);
    if (m) out.push(toDeadLetter(m));
  }
  return out;
}

export async function showDeadLetter(
  nats: NatsClient,
  namespace: string,
  seq: number,
): Promise<DeadLetter | null> {
  const m = await getMessage(await nats.manager(), streamNames(namespace).deadLetters, seq);
  return m ? toDeadLetter(m) : null;
}

/**
 * Publishes a dead letter back to its original subject with its original CloudEvents headers (same event id,
 * so consumers' inboxes still dedupe), then removes it from the dead-letter stream.
 * The Nats-Msg-Id is new: the broker would otherwise drop it as a duplicate of the first publish.
 */
export async function replayDeadLetter(
  nats: NatsClient,
  namespace: string,
  seq: number,
): Promise<DeadLetter> {
  const jsm = await nats.manager();
  const stream = streamNames(namespace).deadLetters;
  const m = await getMessage(jsm, stream, seq);
  if (!m) throw new Error(`No dead letter ${seq} in ${stream}`);
  const letter = toDeadLetter(m);
  const h = natsHeaders();
  for (const [key, values] of m.header ?? []) {
    if (key.toLowerCase().startsWith("fig-dlq-") || key.toLowerCase().startsWith("nats-")) continue;
    for (const v of values) h.append(key, v);
  }
  const js = await nats.jetstream();
  await js.publish(letter.subject, m.data, {
    headers: h,
    msgID: `${letter.eventId ?? "event"}:replay:${Date.now()}`,
  });
  await jsm.streams.deleteMessage(stream, seq);
  return letter;
}
