import { afterAll, beforeAll, beforeEach } from "bun:test";
import { fileURLToPath } from "node:url";
import { codesSpec, type ResourceSpec, type Row, searchTextOf } from "@dash/reference";
import { devScriptEnv } from "@fig/auth";
import { type Database, rowsOf } from "@fig/db";
import { createNatsClient, deleteNamespace, type NatsClient, natsConfigShape } from "@fig/events";
import { parseConfig, withoutEmptyValues } from "@fig/service";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { getTableName, sql } from "drizzle-orm";
import { z } from "zod";
import {
  comparedColumns,
  createDatasyncState,
  type DatasyncState,
  DEFAULT_ROUTES_FILE,
  type ResolvedTable,
  readDataRoute,
  resolveTables,
  tableChecksum,
} from "../src/index.ts";

/** Dash's route reference-data as the repository's fig.yaml declares its data: the four reference tables. */
export const REFERENCE_ROUTE = readDataRoute(DEFAULT_ROUTES_FILE, "reference-data");

/** One declared reference table with `db`'s columns. */
export async function referenceTable(db: Database, name: string): Promise<ResolvedTable> {
  const [table] = await resolveTables(
    db,
    REFERENCE_ROUTE.tables.filter((t) => t.name === name),
  );
  if (!table) throw new Error(`route reference-data declares no table ${name}`);
  return table;
}

/** The checksum verify computes for one reference table (its declared columns). */
export async function checksumOf(db: Database, name: string) {
  const table = await referenceTable(db, name);
  return tableChecksum(db, table, comparedColumns(table));
}

// The two sides of the reference-data route, each with the schema its service migrates: the monolith (the
// first write owner) and reference-data (the candidate). Both carry the four tables, outbox, inbox, sync_keys.
export const MONOLITH_MIGRATIONS = fileURLToPath(
  new URL("../../../services/dash/monolith/drizzle", import.meta.url),
);
export const REFERENCE_MIGRATIONS = fileURLToPath(
  new URL("../../../services/dash/reference-data/drizzle", import.meta.url),
);

/** NATS_URL as every Fig process reads it (the dev default when unset), through the shared config shape. */
export const NATS_URL = parseConfig(z.object(natsConfigShape), withoutEmptyValues(devScriptEnv())).NATS_URL;

/** A namespace no other test file or run uses (subjects, streams, KV buckets): `ds<random10>`. */
export const uniqueNamespace = () => `ds${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;

export type Sides = { owner: TestDatabase; candidate: TestDatabase; drop(): Promise<void> };

/** Two fresh databases on the real server: the owner with the monolith's schema, the candidate with reference-data's. */
export async function createSides(label: string): Promise<Sides> {
  const requiresServer = "two databases compared and synced across connections";
  const owner = await createTestDatabase({
    service: `${label}_owner`,
    migrationsFolder: MONOLITH_MIGRATIONS,
    requiresServer,
  });
  const candidate = await createTestDatabase({
    service: `${label}_candidate`,
    migrationsFolder: REFERENCE_MIGRATIONS,
    requiresServer,
  }).catch(async (error) => {
    await owner.drop();
    throw error;
  });
  return {
    owner,
    candidate,
    async drop() {
      await owner.drop();
      await candidate.drop();
    },
  };
}

/** A test file's two sides and its datasync state (checkpoints) in a NATS namespace of its own. */
export type SidesWithState = { sides: Sides; nats: NatsClient; state: DatasyncState };

/**
 * Registers the file's hooks: both sides created before its tests and dropped after, the namespace deleted, and
 * every reference table emptied before each test. The fields are set once `beforeAll` has run.
 */
export function useSidesWithState(label: string): SidesWithState {
  const t = {} as SidesWithState;
  const namespace = uniqueNamespace();
  beforeAll(async () => {
    t.sides = await createSides(label);
    t.nats = createNatsClient({ servers: NATS_URL, name: `datasync-${label}-test` });
    t.state = createDatasyncState(t.nats, namespace);
  });
  afterAll(async () => {
    if (t.nats) await deleteNamespace(await t.nats.manager(), namespace).catch(() => {});
    await t.nats?.close();
    await t.sides?.drop();
  });
  beforeEach(async () => {
    await resetSide(t.sides.owner.db);
    await resetSide(t.sides.candidate.db);
  });
  return t;
}

/** Empties the reference tables and the sync's bookkeeping, so each test starts from nothing of another's. */
export async function resetSide(db: Database) {
  await db.execute(sql`truncate codes, contexts, establishments, rules, outbox, inbox, sync_keys`);
}

/** A valid code (every column filled), `version` 1 and a fixed write time unless given. */
export function codeRow(code: string, overrides: Row = {}): Row {
  return {
    code,
    description: `Examen ${code}`,
    category: "examen",
    tariff_cents: 1000 + Number(code.slice(-3)),
    unit: "acte",
    place_of_service: "both",
    requires_context: false,
    max_per_day: null,
    effective_from: "2015-01-01",
    effective_to: null,
    active: true,
    version: 1,
    updated_at: new Date("2026-01-02T03:04:05.678Z"),
    ...overrides,
  };
}

/** Writes rows as they are (version and updated_at included) without events: a side's state set directly. */
export async function putRows(db: Database, spec: ResourceSpec, rows: Row[]) {
  if (rows.length === 0) return;
  await db.insert(spec.table).values(rows.map((r) => ({ ...r, search_text: searchTextOf(spec, r) })));
}

/** `n` codes with keys 10000…, as one side's table. */
export const codeRows = (n: number, first = 10000) =>
  Array.from({ length: n }, (_, i) => codeRow(String(first + i)));

/** Every row of a table in key order, as stored (for before/after comparisons). */
export async function tableRows(db: Database, spec: ResourceSpec = codesSpec): Promise<Row[]> {
  return rowsOf<Row>(
    await db.execute(
      sql.raw(`select * from "${getTableName(spec.table)}" order by "${spec.key}" collate "C"`),
    ),
  );
}

/** Polls `probe` until it returns a value other than undefined; at the deadline fails naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 60_000) {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await Bun.sleep(25);
  }
}

export type OutboxEvent = {
  type: string;
  source: string;
  subject: string | null;
  data: {
    table: string;
    op: string;
    keys: string[];
    count: number;
    truncated: boolean;
    rows?: Row[];
    sequence?: number;
  };
};

/** A side's outbox rows in the order they were recorded: the change events that side will publish. */
export async function outboxEvents(db: Database): Promise<OutboxEvent[]> {
  return rowsOf<OutboxEvent & { data: OutboxEvent["data"] | string }>(
    await db.execute(sql`select type, source, subject, data from outbox order by seq`),
  ).map((e) => ({ ...e, data: typeof e.data === "string" ? JSON.parse(e.data) : e.data }));
}

/** The keys that `events` name for one table and op, sorted. */
export const keysNamed = (events: OutboxEvent[], table: string, op: string) =>
  events
    .filter((e) => e.data.table === table && e.data.op === op)
    .flatMap((e) => e.data.keys)
    .sort();
