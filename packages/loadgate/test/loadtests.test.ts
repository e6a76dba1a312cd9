/**
 * The loadtests/*.js scripts, unchanged, on the builtin engine for a couple of seconds against the real services
 * (reference-data on a fresh Postgres database; validation with its database, NATS object store, outbox relay
 * and worker), and type-checked against @types/k6 so they stay valid k6 scripts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { buildApp as buildReferenceApp } from "@dash/reference-data";
import { createLogger } from "@fig/service";
import { createTestAuth, createTestDatabase, type TestDatabase } from "@fig/testing";
import { startPipeline, useValidationApp } from "../../../services/dash/validation/test/helpers.ts";
import { runGate } from "../src/gate.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const script = (name: string) => resolve(ROOT, "loadtests", name);
const auth = createTestAuth();
const validation = useValidationApp({ maxUploadBytes: 10 * 1024 * 1024 });

let referenceDb: TestDatabase;
let reference: ReturnType<typeof Bun.serve>;
let validationServer: ReturnType<typeof Bun.serve>;
/** A stand-in for the gateway's prefix routing (the gateway itself is tested in services/gateway). */
let front: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  referenceDb = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: resolve(ROOT, "services/dash/reference-data/drizzle"),
  });
  const app = buildReferenceApp({
    db: referenceDb.db,
    verifier: auth.verifier,
    logger: createLogger({ service: "reference-data", level: "silent" }),
  });
  const editor = await auth.token({ roles: ["editor"] });
  for (const code of ["10001", "10002", "10003", "10004", "10005"]) {
    const res = await app.request("/api/codes", {
      method: "POST",
      headers: { authorization: `Bearer ${editor}`, "content-type": "application/json" },
      body: JSON.stringify({
        code,
        description: `Accès test ${code}`,
        category: "test",
        tariff_cents: 1000,
        unit: "acte",
        place_of_service: "both",
        requires_context: false,
        max_per_day: null,
        effective_from: "2020-01-01",
        effective_to: null,
        active: true,
      }),
    });
    expect(res.status).toBe(201);
  }
  reference = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  await startPipeline(validation);
  validationServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: validation.app.fetch });
  front = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const url = new URL(req.url);
      const to = url.pathname.startsWith("/api/codes") ? reference : validationServer;
      return fetch(`http://127.0.0.1:${to.port}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.body,
      });
    },
  });
});

afterAll(async () => {
  await front?.stop(true);
  await reference?.stop(true);
  await validationServer?.stop(true);
  await referenceDb?.drop();
});

const expectAllPassedOnData = (thresholds: Awaited<ReturnType<typeof runGate>>["thresholds"]) => {
  expect(thresholds.length).toBeGreaterThan(0);
  const notPassed = thresholds.filter((t) => !t.ok || t.samples === 0);
  expect(notPassed.map((t) => `${t.key} '${t.expression}': ${t.value} (${t.samples} samples)`)).toEqual([]);
};

describe("loadtests on the builtin engine", () => {
  test("reference-data.js: list, search, get against reference-data on Postgres → pass, every endpoint measured", async () => {
    const result = await runGate({
      script: script("reference-data.js"),
      engine: "builtin",
      baseUrl: `http://127.0.0.1:${reference.port}`,
      token: await auth.token({ roles: ["viewer"] }),
      env: { VUS: "2", DURATION: "2s" },
      includeSystemEnv: false,
    });
    expect(result.summary.fig?.iterationErrors).toBe(0);
    expect(result.verdict).toBe("pass");
    expectAllPassedOnData(result.thresholds);
    const keys = result.thresholds.map((t) => t.key);
    expect(keys).toContain("http_req_duration{name:get-code}");
    expect(result.summary.root_group.checks["get: same code"]?.fails).toBe(0);
    expect(result.numbers.requests).toBeGreaterThan(0);
  }, 60_000);

  test("reference-data.js without a token: 401s fail the gate (a load test that cannot fail is a defect)", async () => {
    const result = await runGate({
      script: script("reference-data.js"),
      engine: "builtin",
      baseUrl: `http://127.0.0.1:${reference.port}`,
      env: { VUS: "1", DURATION: "1s" },
      includeSystemEnv: false,
    });
    expect(result.verdict).toBe("fail");
    expect(result.summary.fig?.thresholds.http_req_failed?.["rate<0.01"]).toMatchObject({
      ok: false,
      value: 1,
    });
    // Plain words beside the threshold lines: the gate never got past authentication.
    expect(result.refusals).toContainEqual(
      expect.stringMatching(/^every list-codes request was refused 401 \(.+\)$/),
    );
    expect(result.requests["list-codes"]?.statuses).toEqual({ "401": expect.any(Number) });
    expect(result.text).toContain("REFUSED: every list-codes request was refused 401");
    // get-code is never reached without a listed code: that sub-metric has no data, and fail still wins.
    expect(
      result.summary.fig?.thresholds["http_req_duration{name:get-code}"]?.["p(95)<500"]?.inconclusive,
    ).toBe(true);
  }, 60_000);

  test("validation.js: upload a generated CSV, start a run, poll until completed → pass", async () => {
    const result = await runGate({
      script: script("validation.js"),
      engine: "builtin",
      baseUrl: `http://127.0.0.1:${validationServer.port}`,
      token: await auth.token({ roles: ["editor"], tenant: "acme" }),
      env: { VUS: "1", DURATION: "2s", ROWS: "50", POLL_TIMEOUT: "30" },
      includeSystemEnv: false,
    });
    expect(result.summary.fig?.iterationErrors).toBe(0);
    expect(result.summary.root_group.checks["run: completed"]?.passes).toBeGreaterThan(0);
    expect(result.verdict).toBe("pass");
    expectAllPassedOnData(result.thresholds);
  }, 90_000);

  test("validation.js with a read-only gate token: every upload is a 403, and the gate says why in plain words", async () => {
    const result = await runGate({
      script: script("validation.js"),
      engine: "builtin",
      baseUrl: `http://127.0.0.1:${validationServer.port}`,
      token: await auth.token({ roles: ["viewer", "gate"], tenant: "acme" }),
      env: { VUS: "1", DURATION: "1s", ROWS: "5" },
      includeSystemEnv: false,
    });
    expect(result.verdict).toBe("fail");
    expect(result.requests["upload-file"]?.statuses).toEqual({ "403": expect.any(Number) });
    expect(result.requests["upload-file"]?.refused).toEqual({
      status: 403,
      detail: expect.stringContaining("the token has viewer, gate"),
    });
    expect(result.refusals).toEqual([
      `every upload-file request was refused 403 (${result.requests["upload-file"]?.refused?.detail})`,
    ]);
    expect(result.summary.fig?.refusals).toEqual(result.refusals);
  }, 60_000);

  test("gateway-mixed.js: three scenarios at once (arrival-rate reads, listings, journeys) → pass", async () => {
    const result = await runGate({
      script: script("gateway-mixed.js"),
      engine: "builtin",
      baseUrl: `http://127.0.0.1:${front.port}`,
      token: await auth.token({ roles: ["editor"], tenant: "acme" }),
      env: { RATE: "20", DURATION: "2s" },
      includeSystemEnv: false,
    });
    expect(result.summary.fig?.iterationErrors).toBe(0);
    const scenarios = result.thresholds.find((t) => t.key === "http_req_duration{scenario:reads}");
    expect(scenarios?.samples).toBeGreaterThan(0);
    expect(result.verdict).toBe("pass");
    expectAllPassedOnData(result.thresholds);
  }, 90_000);

  test("the scripts type-check against @types/k6 (loadtests/tsconfig.json)", async () => {
    const proc = Bun.spawn([resolve(ROOT, "node_modules/.bin/tsc"), "-p", "loadtests/tsconfig.json"], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = await new Response(proc.stdout).text();
    expect({ code: await proc.exited, out }).toEqual({ code: 0, out: "" });
  }, 60_000);
});
