import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rowsOf } from "@fig/db";
import {
  createNatsClient,
  deleteNamespace,
  ensureStreams,
  type NatsClient,
  streamNames,
  subjectOf,
} from "@fig/events";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { sql } from "drizzle-orm";
import { NATS_URL, uniqueNamespace } from "./helpers.ts";

// `migrate-data relay` over an app that is not a Fig service: its outbox is created from the DDL the guide
// prints (docs/data-migration.md), the app writes a data.changed row, and the relay publishes it.
const CLI = join(import.meta.dir, "..", "src", "cli.ts");
const GUIDE = join(import.meta.dir, "..", "..", "..", "docs", "data-migration.md");
const namespace = uniqueNamespace();
let app: TestDatabase;
let nats: NatsClient;
let dir: string;

/** The guide's `CREATE TABLE outbox` block, statement by statement. */
async function guideOutboxDdl(): Promise<string[]> {
  const text = await readFile(GUIDE, "utf8");
  const block = /```sql\n(\s*CREATE TABLE outbox[\s\S]*?)```/.exec(text)?.[1];
  if (!block) throw new Error("docs/data-migration.md has no CREATE TABLE outbox block");
  return block
    .replace(/--[^\n]*/g, "")
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean);
}

beforeAll(async () => {
  app = await createTestDatabase({ service: "ds_relay_app", requiresServer: "the relay is another process" });
  for (const statement of await guideOutboxDdl()) await app.db.execute(sql.raw(statement));
  nats = createNatsClient({ servers: NATS_URL, name: "datasync-relay-test" });
  await ensureStreams(await nats.manager(), namespace);
  dir = await mkdtemp(join(tmpdir(), "fig-relay-"));
  await writeFile(
    join(dir, "fig.yaml"),
    [
      "upstreams:",
      "  legacy:",
      "    url: { env: LEGACY_URL }",
      "    database: { env: LEGACY_DATABASE_URL }",
      "  notes:",
      '    url: "http://127.0.0.1:1"',
      "monolith: { backendRef: legacy, prefix: /api }",
      "routes:",
      "  - name: notes",
      "    matches: [{ path: { type: PathPrefix, value: /api/notes } }]",
      "    backendRefs: [{ name: legacy, weight: 100 }, { name: notes, weight: 0 }]",
      "    fig:",
      "      data:",
      "        tables: [{ name: notes, key: id, updatedAt: updated_at }]",
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  if (nats) await deleteNamespace(await nats.manager(), namespace).catch(() => {});
  await nats?.close();
  await app?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("migrate-data relay publishes the app's outbox rows (the guide's DDL) on data.changed.<upstream>, marks them sent, stops on SIGTERM", async () => {
  const stream = streamNames(namespace).events;
  const jsm = await nats.manager();
  await jsm.consumers.add(stream, {
    durable_name: "relay-test-follower",
    filter_subject: subjectOf(namespace, "data.changed", "legacy"),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
  const id = crypto.randomUUID();
  const payload = {
    table: "notes",
    op: "created",
    keys: ["n1"],
    count: 1,
    truncated: false,
    rows: [{ id: "n1", name: "first", updated_at: "2026-12-07T08:00:00.123Z" }],
    sequence: 1,
  };
  // What the app does in its own write's transaction.
  await app.db.execute(
    sql`insert into outbox (id, type, source, data) values (${id}, 'data.changed', 'legacy', ${JSON.stringify(payload)}::jsonb)`,
  );
  const relay = Bun.spawn([process.execPath, CLI, "relay", "notes"], {
    // Only what the CLI reads: the route file, the app's database, NATS and the namespace.
    env: {
      NATS_URL,
      FIG_NAMESPACE: namespace,
      FIG_ROUTES_FILE: join(dir, "fig.yaml"),
      LEGACY_DATABASE_URL: app.url as string,
      DATA_DIR: dir,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [row] = rowsOf<{ sent: boolean }>(
        await app.db.execute(sql`select sent_at is not null as sent from outbox where id = ${id}`),
      );
      if (row?.sent) break;
      if (Date.now() > deadline || relay.exitCode !== null)
        throw new Error(`not published: ${await new Response(relay.stderr).text()}`);
      await Bun.sleep(100);
    }
    const consumer = await (await nats.jetstream()).consumers.get(stream, "relay-test-follower");
    const message = await consumer.next({ expires: 10_000 });
    expect(message?.subject).toBe(subjectOf(namespace, "data.changed", "legacy"));
    expect(message?.json()).toEqual(payload);
    message?.ack();
  } finally {
    relay.kill("SIGTERM");
  }
  expect(await relay.exited).toBe(0);
  expect(await new Response(relay.stderr).text()).toContain("relay: stopped");
});
