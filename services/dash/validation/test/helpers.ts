import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ClaimsExpectation, streamClaims } from "@dash/billing";
import type { Role } from "@fig/auth";
import { type Database, rowsOf } from "@fig/db";
import { createNatsClient, createOutboxRelay, deleteStreams, type NatsClient } from "@fig/events";
import { createLogger, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problemCatalog } from "@fig/service";
import {
  createTestAuth,
  createTestDatabase,
  TEST_NATS_URL,
  type TestAuth,
  type TestDatabase,
} from "@fig/testing";
import { Objm } from "@nats-io/obj";
import { parse } from "csv-parse/sync";
import type { SQL } from "drizzle-orm";
import { buildApp } from "../src/app.ts";
import { bucketName, createFileStore, type FileStore } from "../src/domain/object-store.ts";
import {
  loadReferenceSnapshot,
  REFERENCE_TABLES,
  replaceReferenceTable,
} from "../src/domain/reference-model.ts";
import { createValidationWorker, type WorkerOptions } from "../src/worker/worker.ts";

export const MIGRATIONS = fileURLToPath(new URL("../drizzle", import.meta.url));
export const NATS_URL = TEST_NATS_URL;

export type ValidationTest = {
  app: ReturnType<typeof buildApp>;
  tdb: TestDatabase;
  auth: TestAuth;
  nats: NatsClient;
  store: FileStore;
  namespace: string;
  /** A request as `tenant` with `roles` (default editor of tenant "acme"); `token: null` sends none. */
  request(
    path: string,
    init?: RequestInit & { tenant?: string; roles?: Role[]; token?: string | null },
  ): Promise<Response>;
  upload(
    csv: string | Uint8Array<ArrayBuffer>,
    options?: { tenant?: string; name?: string },
  ): Promise<Response>;
  /** Registers a cleanup, run (last registered first) before the namespace and database are torn down. */
  defer(fn: () => Promise<unknown> | unknown): void;
};

/**
 * One database, one NATS namespace (streams and bucket deleted afterwards) and one app per test file. The
 * database is a real Postgres one (`t.tdb.kind`); in-memory PGlite only outside CI when nothing listens, as the
 * file's warning says, and never when `requiresServer` says why the file needs a real server.
 */
export function useValidationApp(
  options: { maxUploadBytes?: number; requiresServer?: string } = {},
): ValidationTest {
  const t = {} as ValidationTest;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  t.defer = (fn) => {
    cleanups.push(fn);
  };
  beforeAll(async () => {
    t.namespace = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
    t.tdb = await createTestDatabase({
      service: "validation",
      migrationsFolder: MIGRATIONS,
      ...(options.requiresServer ? { requiresServer: options.requiresServer } : {}),
    });
    t.auth = createTestAuth();
    t.nats = createNatsClient({ servers: NATS_URL, name: "validation-test" });
    t.store = createFileStore(t.nats, t.namespace);
    t.app = buildApp({
      db: t.tdb.db,
      store: t.store,
      verifier: t.auth.verifier,
      config: { MAX_UPLOAD_BYTES: options.maxUploadBytes ?? 1024 * 1024 },
      logger: createLogger({ service: "validation", level: "silent" }),
    });
    t.request = async (path, init = {}) => {
      const { tenant = "acme", roles = ["editor"], token, ...rest } = init;
      const headers = new Headers(rest.headers);
      const bearer = token === undefined ? await t.auth.token({ tenant, roles }) : token;
      if (bearer !== null) headers.set("authorization", `Bearer ${bearer}`);
      return t.app.request(path, { ...rest, headers });
    };
    t.upload = (csv, { tenant, name = "claims.csv" } = {}) => {
      const form = new FormData();
      form.append("file", new File([csv], name, { type: "text/csv" }));
      return t.request("/api/files", { method: "POST", body: form, ...(tenant ? { tenant } : {}) });
    };
  });
  afterAll(async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop() as () => Promise<unknown> | unknown;
      await Promise.resolve()
        .then(fn)
        .catch(() => {});
    }
    const nc = await t.nats.connection();
    await new Objm(nc)
      .open(bucketName(t.namespace))
      .then((os) => os.destroy())
      .catch(() => {});
    await deleteStreams(await t.nats.manager(), t.namespace);
    await t.nats.close();
    await t.tdb.drop();
  });
  return t;
}

// ---- Shared by the pipeline, bad-input, security, SSE and crash tests ----

export const TODAY = "2026-11-20";
export const SEED_DIR = fileURLToPath(new URL("../../reference-data/seed", import.meta.url));
export const silent = createLogger({ service: "validation", level: "silent" });

/** Rows of `db.execute` (postgres.js answers an array, PGlite `{ rows }`). */
export async function query<T extends Record<string, unknown>>(db: Database, statement: SQL): Promise<T[]> {
  return rowsOf<T>(await db.execute(statement));
}

/** The reference-data seed CSVs, parsed. */
export async function seedRows(table: (typeof REFERENCE_TABLES)[number]): Promise<Record<string, string>[]> {
  return parse(await Bun.file(join(SEED_DIR, `${table}.csv`)).text(), { columns: true, bom: true });
}

/** Fills the read model straight from reference-data's seed CSVs (no reference-data service involved). */
export async function seedReadModel(db: Database) {
  const tables = await Promise.all(REFERENCE_TABLES.map(async (t) => [t, await seedRows(t)] as const));
  await db.transaction(async (tx) => {
    for (const [table, rows] of tables) await replaceReferenceTable(tx as unknown as Database, table, rows);
  });
}

export type PipelineOptions = {
  progressEveryRows?: number;
  resultBatchSize?: number;
  ackWaitMs?: number;
  worker?: boolean;
  /** The worker's test hook: awaited after each progress update commits (hold a run mid-way). */
  afterProgress?: WorkerOptions["afterProgress"];
};

/** Seeds the read model and runs an outbox relay and (unless `worker: false`) a worker in this process. */
export async function startPipeline(t: ValidationTest, options: PipelineOptions = {}) {
  await seedReadModel(t.tdb.db);
  const relay = createOutboxRelay({
    database: t.tdb,
    nats: t.nats,
    namespace: t.namespace,
    logger: silent,
    pollIntervalMs: 50,
  });
  await relay.start();
  t.defer(() => relay.stop());
  if (options.worker !== false) await startWorker(t, options);
  return relay;
}

/** A validation worker in this process (the same durable consumer every replica shares). */
export async function startWorker(t: ValidationTest, options: PipelineOptions = {}) {
  const worker = createValidationWorker({
    db: t.tdb.db,
    store: t.store,
    nats: t.nats,
    namespace: t.namespace,
    logger: silent,
    progressEveryRows: options.progressEveryRows ?? 500,
    ackWaitMs: options.ackWaitMs ?? 10_000,
    maxDeliver: 5,
    today: TODAY,
    ...(options.resultBatchSize ? { resultBatchSize: options.resultBatchSize } : {}),
    ...(options.afterProgress ? { afterProgress: options.afterProgress } : {}),
  });
  await worker.start();
  t.defer(() => worker.stop());
  return worker;
}

/** Generated claims consistent with the read model, and the findings the engine must report for them. */
export async function generatedClaims(
  t: ValidationTest,
  rows: number,
  { seed = 7, errorRate = 0.05 } = {},
): Promise<{ bytes: Uint8Array<ArrayBuffer>; expected: ClaimsExpectation; total: number }> {
  const reference = await loadReferenceSnapshot(t.tdb.db);
  const { stream, expected } = streamClaims({ reference, rows, seed, errorRate, today: TODAY });
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  const done = await expected;
  return { bytes, expected: done, total: Object.values(done.findings).reduce((a, b) => a + b, 0) };
}

/** Findings per rule without the rules that found nothing (how a run reports `counts.byRule`). */
export const nonZero = (counts: Record<string, number>) =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));

export const json = (body: unknown): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

/** Uploads `csv` as `tenant` (default acme); the new file's id. */
export async function uploadFile(
  t: ValidationTest,
  csv: string | Uint8Array<ArrayBuffer>,
  tenant?: string,
): Promise<string> {
  const res = await t.upload(csv, tenant ? { tenant } : {});
  expect(res.status).toBe(201);
  return ((await res.json()) as { fileId: string }).fileId;
}

/** Uploads `csv` and requests a run of it; the run's id. */
export async function validateCsv(
  t: ValidationTest,
  csv: string | Uint8Array<ArrayBuffer>,
  tenant?: string,
): Promise<string> {
  const fileId = await uploadFile(t, csv, tenant);
  const res = await t.request("/api/validations", { ...json({ fileId }), ...(tenant ? { tenant } : {}) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { validationId: string }).validationId;
}

export type RunView = {
  validationId: string;
  status: "queued" | "processing" | "completed" | "failed";
  progress: { processedRows: number; percent: number };
  rows: number | null;
  counts: { bySeverity: Record<string, number>; byRule: Record<string, number> };
  failureReason: string | null;
  attempts: number;
};

/** Polls GET /api/validations/{id} until `done` holds (default: a terminal status) or the deadline passes. */
export async function waitForRun(
  t: ValidationTest,
  id: string,
  {
    done = (run: RunView) => run.status === "completed" || run.status === "failed",
    timeoutMs = 30_000,
    tenant,
  }: { done?: (run: RunView) => boolean; timeoutMs?: number; tenant?: string } = {},
): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.request(`/api/validations/${id}`, {
      roles: ["viewer"],
      ...(tenant ? { tenant } : {}),
    });
    expect(res.status).toBe(200);
    const run = (await res.json()) as RunView;
    if (done(run)) return run;
    if (Date.now() > deadline)
      throw new Error(`run ${id} did not get there in ${timeoutMs} ms: ${run.status}`);
    await Bun.sleep(50);
  }
}

/** Polls `check` until it returns a truthy value, or fails with `message` at the deadline. */
export async function until<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  { timeoutMs = 15_000, intervalMs = 50, message = "condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await Bun.sleep(intervalMs);
  }
}

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: { location: string; message: string }[];
};

/** Asserts an RFC 9457 problem+json response with the catalog's type and title for `status`; the body. */
export async function expectProblem(res: Response, status: number): Promise<ProblemBody> {
  const text = await res.text();
  expect({ status: res.status, body: text.slice(0, 300) }).toMatchObject({ status });
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  const body = JSON.parse(text) as ProblemBody;
  const entry = Object.entries(problemCatalog).find(([, p]) => p.status === status);
  expect(entry).toBeDefined();
  const [type, { title }] = entry as [string, { title: string }];
  expect(body).toMatchObject({ type: `${PROBLEM_TYPE_BASE}${type}`, title, status });
  expect(body.detail).toBeString();
  expect(body.instance).toBeString();
  expect(text).not.toMatch(/\n\s+at |node_modules/);
  return body;
}

/** The `location`s of a problem's `errors[]`. */
export const locationsOf = (problem: ProblemBody) => (problem.errors ?? []).map((e) => e.location);
