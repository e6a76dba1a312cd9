import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDatabase } from "@fig/db";
import { createNatsClient, deleteStreams, enqueueEvent } from "@fig/events";
import { createApp, createLogger } from "@fig/service";
import { TEST_NATS_URL, testConfig } from "@fig/testing";
import postgres from "postgres";
import { type Component, runService, type ServiceConfig } from "../src/index.ts";
import { exitProbe, testServiceConfig } from "./helpers.ts";

// Real Postgres and NATS: the bootstrap opens, migrates and closes them itself.
const ADMIN_URL = testConfig.databaseUrl;
const dbName = `fig_test_bootstrap_${crypto.randomUUID().slice(0, 8)}`;
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
const migrations = new URL("../../events/test/drizzle", import.meta.url);
const namespace = `bootstrap${crypto.randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await admin.unsafe(`create database ${dbName}`);
});
afterAll(async () => {
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "bootstrap-test-cleanup" });
  await deleteStreams(await nats.manager(), namespace);
  await nats.close();
  await admin.unsafe(`drop database if exists ${dbName} with (force)`);
  await admin.end();
});

function configWith(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  return testServiceConfig({
    DATABASE_URL: url.toString(),
    NATS_URL: TEST_NATS_URL,
    FIG_NAMESPACE: namespace,
    ...overrides,
  });
}

const app = { fetch: () => new Response("ok") };

describe("runService", () => {
  test("starts database, NATS and components in order, serves /ready, and stops in reverse within the grace period", async () => {
    const log: string[] = [];
    const { exit, exited } = exitProbe();
    let databaseOpenWhileStopping: boolean | undefined;
    const started = await runService({
      service: { name: "bootstrap-test", version: "0.0.0" },
      loadConfig: () => configWith(),
      database: { migrationsFolder: migrations },
      events: { relay: true },
      exit,
      build: ({ database, nats, readiness }) => {
        log.push(`build: database ${database.kind}, nats ${typeof nats.check}`);
        const component = (name: string, onStop?: () => Promise<void>): Component => ({
          name,
          start: () => void log.push(`start ${name}`),
          stop: async () => {
            await onStop?.();
            log.push(`stop ${name}`);
          },
        });
        const logger = createLogger({ service: "bootstrap-test", level: "silent" });
        return {
          app: createApp({ name: "bootstrap-test", version: "0", logger, readiness }),
          components: [
            component("first", async () => {
              databaseOpenWhileStopping = await database.ping().then(
                () => true,
                () => false,
              );
            }),
            component("second"),
          ],
        };
      },
    });
    const ready = await fetch(`http://127.0.0.1:${started.port}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks).toEqual({
      database: "ok",
      nats: "ok",
    });

    void started.shutdown("SIGTERM");
    expect(await exited).toBe(0);
    expect(log).toEqual([
      "build: database postgres, nats function",
      "start first",
      "start second",
      "stop second",
      "stop first",
    ]);
    // Components stopped while the database was open; the bootstrap closed it afterwards.
    expect(databaseOpenWhileStopping).toBe(true);
    await expect(started.database?.ping()).rejects.toThrow();
  });

  test("a component that never stops is abandoned: the database still closes and the exit code says 1", async () => {
    const { exit, exited } = exitProbe();
    let stopCalled!: () => void;
    const stopReached = new Promise<void>((r) => {
      stopCalled = r;
    });
    const started = await runService({
      service: { name: "bootstrap-hang", version: "0.0.0" },
      loadConfig: () => configWith({ SHUTDOWN_TIMEOUT_MS: 800 }),
      database: { migrationsFolder: migrations },
      exit,
      build: () => ({
        app,
        components: [
          {
            name: "stuck worker",
            start: () => {},
            stop: () => {
              stopCalled();
              return new Promise<void>(() => {}); // never settles
            },
          },
        ],
      }),
    });
    void started.shutdown("SIGTERM");
    await stopReached;
    expect(await exited).toBe(1);
    await expect(started.database?.ping()).rejects.toThrow();
  });

  test("no database and no NATS: a gateway-like service starts with only HTTP", async () => {
    const { exit, exited } = exitProbe();
    const started = await runService({
      service: { name: "bootstrap-bare", version: "0.0.0" },
      loadConfig: () => configWith({ DATABASE_URL: undefined }),
      exit,
      build: ({ database, nats, readiness }) => {
        expect(database).toBeUndefined();
        expect(nats).toBeUndefined();
        expect(Object.keys(readiness)).toEqual([]);
        return { app };
      },
    });
    expect(await (await fetch(`http://127.0.0.1:${started.port}/`)).text()).toBe("ok");
    expect(started.database).toBeUndefined();
    void started.shutdown("SIGTERM");
    expect(await exited).toBe(0);
  });

  test("a component that fails to start closes what was opened and exits 1", async () => {
    const { exit, exited } = exitProbe();
    const stopped: string[] = [];
    const starting = runService({
      service: { name: "bootstrap-fail", version: "0.0.0" },
      loadConfig: () => configWith(),
      database: { migrationsFolder: migrations },
      exit,
      build: () => ({
        app,
        components: [
          { name: "ok", start: () => {}, stop: () => void stopped.push("ok") },
          {
            name: "broken",
            start: () => {
              throw new Error("cannot start");
            },
            stop: () => void stopped.push("broken"),
          },
        ],
      }),
    });
    await expect(starting).rejects.toThrow("cannot start");
    expect(await exited).toBe(1);
    expect(stopped).toEqual(["ok"]);
  });

  test("a SIGTERM during start-up (a component still starting) ends the process cleanly, exit 0", async () => {
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    const proc = Bun.spawn(["bun", new URL("./fixtures/slow-start.ts", import.meta.url).pathname], {
      env: { PATH: Bun.env.PATH ?? "", DATABASE_URL: url.toString() },
      stdout: "pipe",
      stderr: "inherit",
    });
    // Synchronize on the child's own word that it is mid-start, then signal it.
    const reader = proc.stdout.getReader();
    let seen = "";
    while (!seen.includes("STARTING")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    expect(seen).toContain("STARTING");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    expect(seen).toContain("stopping during start-up");
  });

  test("the relay has connections of its own: it sends an event while every connection of the service's pool is held", async () => {
    const { exit, exited } = exitProbe();
    const started = await runService({
      service: { name: "bootstrap-relay", version: "0.0.0" },
      // 2: the migration holds one connection (its lock) while it runs on another.
      loadConfig: () => configWith({ DB_POOL_MAX: 2 }),
      database: { migrationsFolder: migrations },
      events: { relay: true },
      exit,
      build: () => ({ app }),
    });
    const db = started.database?.db;
    if (!db) throw new Error("the service has a database");
    // Two long transactions take the service pool's two connections for the whole check.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const holders: Promise<void>[] = [];
    const holding: Promise<void>[] = [];
    for (let i = 0; i < 2; i++) {
      let began!: () => void;
      holding.push(
        new Promise<void>((r) => {
          began = r;
        }),
      );
      holders.push(
        db.transaction(async () => {
          began();
          await released;
        }),
      );
    }
    await Promise.all(holding);
    // Another writer (a pool of its own) commits an event: only a relay with its own connection can send it now.
    const writer = await createDatabase({
      service: "bootstrap-relay-writer",
      url: configWith().DATABASE_URL,
    });
    const reader = postgres(configWith().DATABASE_URL as string, { max: 1, onnotice: () => {} });
    try {
      const id = await writer.db.transaction((tx) =>
        enqueueEvent(
          tx,
          "data.changed",
          { table: "widgets", op: "created", keys: ["w1"], count: 1, truncated: false },
          { source: "bootstrap-relay-test" },
        ),
      );
      const deadline = Date.now() + 15_000;
      let row: { sent: boolean; last_error: string | null } | undefined;
      while (!row?.sent && Date.now() < deadline) {
        [row] = await reader<{ sent: boolean; last_error: string | null }[]>`
          select sent_at is not null as sent, last_error from outbox where id = ${id}`;
        if (!row?.sent) await Bun.sleep(20);
      }
      expect(row).toEqual({ sent: true, last_error: null });
    } finally {
      release();
      await Promise.all(holders);
      await writer.close();
      await reader.end();
    }
    void started.shutdown("SIGTERM");
    expect(await exited).toBe(0);
  }, 30_000);
});
