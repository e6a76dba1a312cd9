import { afterAll, afterEach, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Database } from "@fig/db";
import { createTestDatabase, natsServerBinary, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { inArray, sql } from "drizzle-orm";
import pino from "pino";
import {
  createEventConsumer,
  createNatsClient,
  createOutboxRelay,
  deleteStreams,
  type EventConsumer,
  type EventConsumerOptions,
  type EventData,
  type EventType,
  enqueueEvent,
  envelopeHeaders,
  type FigEvent,
  type NatsClient,
  type OutboxRelay,
  type OutboxRelayOptions,
  outbox,
  streamNames,
  subjectOf,
} from "../src/index.ts";
import { effects } from "./schema.ts";
// Dash's reference.changed is the fixture event of these tests (Fig's own catalog has no owner-and-legacy event).
import "../../dash/reference/src/event-catalog.ts";

export const NATS_URL = TEST_NATS_URL;
export const migrationsFolder = join(import.meta.dir, "drizzle");
export const silent = pino({ level: "silent" });

/** A namespace no other test file (or run) uses: `t<random8>`. */
export function uniqueNamespace(): string {
  return `t${crypto.randomUUID().replace(/-/g, "").slice(0, 8)}`;
}

/** Polls `probe` until it returns a truthy value; fails with `message` at the deadline. Never a fixed sleep. */
export async function until<T>(
  probe: () => Promise<T> | T,
  { timeoutMs = 10_000, intervalMs = 20, message = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await Bun.sleep(intervalMs);
  }
}

/** Retries an assertion block until it passes; at the deadline rethrows its last failure. */
export async function eventually(assertion: () => Promise<void> | void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(20);
    }
  }
}

/** Valid `reference.changed` data, tagged with `i` so order and identity are visible. */
export function changed(i: number): EventData<"reference.changed"> {
  return { table: "codes", op: "created", keys: [String(i)], count: 1, truncated: false };
}

/** Enqueues `n` events, one committed transaction each, in order; returns their ids. */
export async function enqueueMany(db: Database, n: number, from = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + n; i++) {
    ids.push(await db.transaction((tx) => enqueueEvent(tx, "reference.changed", changed(i))));
  }
  return ids;
}

export async function outboxRows(db: Database, ids: string[]) {
  return db.select().from(outbox).where(inArray(outbox.id, ids));
}

/** Effects applied per event id (the consumer under test inserts one row per application). */
export async function effectCounts(db: Database, ids?: string[]): Promise<Map<string, number>> {
  const rows = await db
    .select({ id: effects.event_id, n: sql<number>`count(*)::int` })
    .from(effects)
    .where(ids ? inArray(effects.event_id, ids) : undefined)
    .groupBy(effects.event_id);
  return new Map(rows.map((r) => [r.id, r.n]));
}

/** Messages in the namespace's event stream. */
export async function streamMessages(nats: NatsClient, namespace: string): Promise<number> {
  const info = await (await nats.manager()).streams.info(streamNames(namespace).events);
  return info.state.messages;
}

/**
 * Waits until a durable consumer has nothing left: no undelivered and no unacknowledged messages. After
 * this, effects can be counted without racing a late delivery.
 */
export async function drained(nats: NatsClient, namespace: string, consumer: string, timeoutMs = 10_000) {
  const jsm = await nats.manager();
  return until(
    async () => {
      const info = await jsm.consumers.info(streamNames(namespace).events, consumer).catch(() => undefined);
      return info && info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
    },
    { timeoutMs, message: `consumer ${consumer} to drain` },
  );
}

/** Reads a child's stdout until a line starting with `prefix`; returns that line. */
export async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  timeoutMs: number,
): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const timeout = Bun.sleep(timeoutMs).then(() => "timeout" as const);
  try {
    for (;;) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === "timeout") throw new Error(`no "${prefix}" line within ${timeoutMs} ms; got: ${buffer}`);
      if (chunk.done) throw new Error(`stream ended before a "${prefix}" line; got: ${buffer}`);
      buffer += decoder.decode(chunk.value, { stream: true });
      const complete = buffer.split("\n").slice(0, -1);
      const line = complete.find((l) => l.startsWith(prefix));
      if (line !== undefined) return line;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Publishes a CloudEvent straight to its subject, bypassing the outbox (duplicates, malformed input). */
export function publishDirect(
  js: JetStreamClient,
  namespace: string,
  event: FigEvent,
  msgID: string = event.id,
): Promise<PubAck> {
  return js.publish(subjectOf(namespace, event.type), JSON.stringify(event.data), {
    msgID,
    headers: envelopeHeaders(event),
  });
}

export function makeEvent<T extends EventType = "reference.changed">(
  overrides: Partial<FigEvent<T>> = {},
): FigEvent<T> {
  return {
    id: crypto.randomUUID(),
    type: "reference.changed" as T,
    source: "reference-data",
    time: new Date().toISOString(),
    data: changed(0) as EventData<T>,
    ...overrides,
  };
}

/** A pino logger that writes nothing to the console and keeps every record (to observe relay retries). */
export function capturingLogger() {
  const records: { level: number; msg: string; [key: string]: unknown }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => records.push(JSON.parse(line)) });
  return { logger, records };
}

/** A port nobody listens on (yet). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export type PrivateNats = { url: string; pid: number; storeDir: string; stop(): Promise<void> };

/** A fresh JetStream store directory for a private nats-server (remove it with `rmSync` when done). */
export function natsStoreDir(): string {
  return mkdtempSync(join(tmpdir(), "fig-events-nats-"));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A private JetStream nats-server on `port` (outage tests), storing under `storeDir` so a restart keeps the
 * streams. stop() kills only this process, by its pid.
 */
export async function startPrivateNats(port: number, storeDir: string): Promise<PrivateNats> {
  const proc = Bun.spawn(
    [natsServerBinary(), "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir],
    { stdout: "ignore", stderr: "ignore" },
  );
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await proc.exited;
  };
  try {
    await until(
      async () => {
        if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}`);
        try {
          const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
          socket.end();
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000, message: `nats-server on port ${port}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `127.0.0.1:${port}`, pid: proc.pid, storeDir, stop };
}

/** Cleanups registered by a test, run in reverse order (call from afterEach), so a failure leaks nothing. */
export function cleanupStack() {
  const stack: (() => Promise<unknown> | unknown)[] = [];
  return {
    defer(fn: () => Promise<unknown> | unknown) {
      stack.push(fn);
    },
    async run() {
      while (stack.length > 0) {
        const fn = stack.pop();
        await Promise.resolve()
          .then(fn)
          .catch(() => {});
      }
    },
  };
}

/** Options of a relay or consumer built by an {@link EventsTestEnv}: database, NATS client and logger default to its own. */
type EnvOptions<O> = O extends unknown
  ? Omit<O, "database" | "nats" | "logger"> & Partial<Pick<O, Extract<keyof O, "nats" | "logger">>>
  : never;

export type EventsTestEnv = {
  /** The file's test database (created in beforeAll, dropped in afterAll). */
  readonly tdb: TestDatabase;
  /** The file's client of the shared NATS server (closed in afterAll). */
  readonly nats: NatsClient;
  /** Run after each test. */
  readonly cleanup: ReturnType<typeof cleanupStack>;
  /** One namespace per test, all under the file's unique prefix; their streams are deleted in afterAll. */
  testNamespace(label: string): string;
  /** A relay on the file's database, NATS and a silent logger unless given; stopped after the test. */
  relay(options: EnvOptions<OutboxRelayOptions>): OutboxRelay;
  /** A consumer on the file's database, NATS and a silent logger unless given; stopped after the test. */
  consumer<T extends EventType>(options: EnvOptions<EventConsumerOptions<T>>): EventConsumer;
};

/**
 * The setup every Postgres + NATS test file shares: registers its beforeAll/afterEach/afterAll hooks. Call
 * once, at the top level of the test file; `clientName` names its NATS connection. `requiresServer` says why
 * the file cannot run on the PGlite fallback (outside CI, when no Postgres listens); `env.tdb.kind` tells.
 */
export function eventsTestEnv(
  clientName: string,
  { requiresServer }: { requiresServer?: string } = {},
): EventsTestEnv {
  const fileNamespace = uniqueNamespace();
  const namespaces: string[] = [];
  let tdb: TestDatabase | undefined;
  const nats = createNatsClient({ servers: NATS_URL, name: clientName });
  const cleanup = cleanupStack();

  const env: EventsTestEnv = {
    get tdb() {
      if (!tdb) throw new Error("the test database is created in beforeAll");
      return tdb;
    },
    nats,
    cleanup,
    testNamespace(label) {
      const ns = `${fileNamespace}_${label}`;
      namespaces.push(ns);
      return ns;
    },
    relay(options) {
      const relay = createOutboxRelay({ database: env.tdb, nats, logger: silent, ...options });
      cleanup.defer(() => relay.stop());
      return relay;
    },
    consumer(options) {
      const consumer = createEventConsumer({ database: env.tdb, nats, logger: silent, ...options });
      cleanup.defer(() => consumer.stop());
      return consumer;
    },
  };

  beforeAll(async () => {
    tdb = await createTestDatabase({
      service: "events",
      migrationsFolder,
      ...(requiresServer ? { requiresServer } : {}),
    });
  });
  afterEach(() => cleanup.run());
  afterAll(async () => {
    const jsm = await nats.manager();
    for (const ns of namespaces) await deleteStreams(jsm, ns);
    await nats.close();
    await env.tdb.drop();
  });
  return env;
}

export type { TestDatabase };
