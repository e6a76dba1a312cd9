import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNatsClient, type NatsClient } from "@fig/events";
import { addRoute, addUpstream, loadRouteText } from "@fig/route-file";
import { ConfigError } from "@fig/service";
import { TEST_NATS_URL } from "@fig/testing";
import { loadConfig } from "../src/config.ts";
import type { OpenApiDocument } from "../src/docs/merge.ts";
import { loadUpstreamDocuments } from "../src/docs/upstreams.ts";
import { createKvRouteStore, routesBucketName } from "../src/state/kv-store.ts";
import { DASH_ROUTES_FILE } from "./fixtures/dash-routes.ts";
import { silent, testGateway, until } from "./harness.ts";

const FIG_YAML = readFileSync(DASH_ROUTES_FILE, "utf8");
const dir = mkdtempSync(join(tmpdir(), "fig-route-file-"));
const namespace = `gwfile_${process.pid}_${Date.now().toString(36)}`;
const bucket = routesBucketName(namespace);
const clients: NatsClient[] = [];
const stores: { stop(): Promise<void> }[] = [];

afterAll(async () => {
  for (const store of stores) await store.stop();
  const admin = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-route-file-cleanup" });
  await (await admin.manager()).streams.delete(`KV_${bucket}`).catch(() => {});
  await admin.close();
  for (const client of clients) await client.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** A gateway replica whose table is this route file's text, on the test's KV bucket. */
async function replicaOf(text: string) {
  const { table } = loadRouteText(text, { env: {} });
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-route-file-test" });
  clients.push(nats);
  const store = createKvRouteStore({
    connection: () => nats.connection(),
    bucket,
    routes: [table.defaultRoute, ...table.routes],
    logger: silent,
    retryMs: 100,
  });
  stores.push(store);
  await store.start();
  await until(() => store.health().loaded, "route state loaded");
  return { table, store };
}

describe("the route file seeds NATS KV and never overwrites it", () => {
  test("an edited file's weights do not replace the live ones; a route new to the file is seeded", async () => {
    const first = await replicaOf(FIG_YAML);
    expect(first.store.get("validation")?.weights).toEqual({ monolith: 100, validation: 0 });
    await first.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 80, validation: 20 } },
      { who: "test", why: "canary" },
    );

    // Someone edits fig.yaml: other seed weights and write owner for validation, and a new route.
    const edited = addRoute(
      addUpstream(
        FIG_YAML.replace(
          "- { name: monolith, weight: 100 }\n      - { name: validation, weight: 0 }",
          "- { name: monolith, weight: 50 }\n      - { name: validation, weight: 50 }",
        ),
        "notes",
        { url: "http://127.0.0.1:9" },
      ),
      {
        name: "notes",
        matches: [{ path: { type: "PathPrefix", value: "/api/notes" } }],
        backendRefs: [
          { name: "monolith", weight: 100 },
          { name: "notes", weight: 0 },
        ],
      },
    );
    const editedTable = loadRouteText(edited, { env: {} }).table;
    expect(editedTable.routes.find((r) => r.id === "validation")?.upstreams.map((u) => u.weight)).toEqual([
      50, 50,
    ]);

    const restarted = await replicaOf(edited);
    expect(restarted.store.get("validation")?.weights).toEqual({ monolith: 80, validation: 20 });
    expect(restarted.store.get("validation")?.history.at(-1)).toMatchObject({
      what: "weights",
      why: "canary",
    });
    expect(restarted.store.get("notes")?.weights).toEqual({ monolith: 100, notes: 0 });
  });
});

describe("the gateway's config reads the route file", () => {
  const base = { NODE_ENV: "development", AUTH_DEV_SECRET: "route-file-test-secret-0123456789abcdef" };

  test("FIG_ROUTES_FILE defaults to the repository's fig.yaml; the variables it names still set URLs, limits and timeouts", () => {
    const config = loadConfig({
      ...base,
      MONOLITH_URL: "http://monolith:8081",
      RATE_LIMIT_PER_MINUTE: "5",
      GATE_RATE_LIMIT_PER_MINUTE: "50",
      UPSTREAM_TIMEOUT_MS: "250",
    });
    expect(config.FIG_ROUTES_FILE).toBe(DASH_ROUTES_FILE);
    const { defaultRoute, routes } = config.routes.table;
    expect(defaultRoute.upstreams[0]?.url).toBe("http://monolith:8081");
    for (const route of [defaultRoute, ...routes]) {
      expect(route.policies.rateLimit).toEqual({ perMinute: 5, byRole: { gate: 50 } });
      expect(route.policies.timeoutMs).toBe(250);
    }
  });

  test("a bad file, or a bad variable it names, is a ConfigError listing each field", () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      FIG_YAML.replace("writeOwner: monolith", "writeOwner: monolit").replace("weight: 0 }", "weight: 10 }"),
    );
    let error: unknown;
    try {
      loadConfig({ ...base, FIG_ROUTES_FILE: file, RATE_LIMIT_PER_MINUTE: "many" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.replace(/ \(line \d+\)$/, ""));
    expect(problems).toEqual([
      `${file}: routes[0].backendRefs: weights sum to 110, not 100`,
      `${file}: routes[0].fig.writeOwner: "monolit" is not among the route's backendRefs (monolith, reference-data)`,
    ]);
    // Once the file's shape is right, its variables are checked.
    expect(() => loadConfig({ ...base, RATE_LIMIT_PER_MINUTE: "many" })).toThrow(
      /defaults\.rateLimit\.perMinute: RATE_LIMIT_PER_MINUTE="many"/,
    );
  });

  test("the gateway process stops at start with the field errors of a bad file", async () => {
    const file = join(dir, "bad-start.yaml");
    writeFileSync(
      file,
      FIG_YAML.replace("backendRef: monolith\n  prefix: /api", "backendRef: legacy\n  prefix: /api"),
    );
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "..", "src", "main.ts")], {
      env: { ...base, PATH: Bun.env.PATH ?? "", FIG_ROUTES_FILE: file, PORT: "0", NATS_URL: TEST_NATS_URL },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    expect(code).toBe(1);
    expect(stderr).toContain(
      `monolith.backendRef: unknown upstream "legacy" (known: monolith, reference-data, validation, `,
    );
  });
});

describe("the merged OpenAPI document follows the route file", () => {
  const doc = (paths: string[], tag: string): OpenApiDocument => ({
    openapi: "3.1.0",
    info: { title: tag, version: "1" },
    paths: Object.fromEntries(
      paths.map((p) => [p, { get: { operationId: `${tag}${p.replaceAll("/", "_")}` } }]),
    ),
  });

  test("a `/path` is fetched from the upstream; the monolith fills in only what no service declares", async () => {
    const notes = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) =>
        new URL(req.url).pathname === "/openapi.json"
          ? Response.json(doc(["/api/notes", "/api/notes/{id}", "/health"], "notes"))
          : new Response("not found", { status: 404 }),
    });
    try {
      writeFileSync(
        join(dir, "legacy.json"),
        JSON.stringify(doc(["/api/notes", "/api/people", "/health"], "legacy")),
      );
      const text = [
        "upstreams:",
        "  legacy: { url: http://127.0.0.1:9, openapi: legacy.json }",
        `  notes: { url: "${notes.url.origin}", openapi: /openapi.json }`,
        "  down: { url: http://127.0.0.1:9, openapi: /openapi.json }",
        "monolith: { backendRef: legacy }",
        "routes:",
        "  - name: notes",
        "    matches: [{ path: { value: /api/notes } }]",
        "    backendRefs: [{ name: legacy, weight: 100 }, { name: notes, weight: 0 }, { name: down, weight: 0 }]",
      ].join("\n");
      const { table, upstreams } = loadRouteText(text, { env: {} });
      const failed: string[] = [];
      const documents = await loadUpstreamDocuments(
        { upstreams, table, baseDir: dir },
        { onError: (name) => failed.push(name) },
      );
      expect(failed).toEqual(["down"]);
      expect(documents.map((d) => [d.name, Object.keys(d.document.paths ?? {})])).toEqual([
        ["notes", ["/api/notes", "/api/notes/{id}", "/health"]],
        ["legacy", ["/api/people"]],
      ]);

      const gateway = testGateway({ table, upstreamDocuments: () => documents });
      const merged = (await (await gateway.app.request("/openapi.json")).json()) as OpenApiDocument;
      const paths = Object.keys(merged.paths ?? {});
      expect(paths).toEqual(
        expect.arrayContaining(["/api/notes", "/api/notes/{id}", "/api/people", "/_fig/routes"]),
      );
      const notesOp = merged.paths?.["/api/notes"] as { get?: { operationId?: string } } | undefined;
      expect(notesOp?.get?.operationId).toBe("notes_api_notes");
    } finally {
      notes.stop(true);
    }
  });
});
