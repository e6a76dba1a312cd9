/**
 * `bun run new service` in a copy of this repository (its files as git sees them, installed from bun's cache):
 * right after it runs, the checks CI runs pass on what it wrote with no edit (Biome, tsc, the OpenAPI drift
 * check and Redocly, the new service's own tests against real Postgres), fig.yaml has its route at 0 % with
 * every other line kept, compose.yaml has its entry and database; and it refuses taken or bad names.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER, mintDevToken } from "../../packages/auth/src/index.ts";
import { createNatsClient, deleteNamespace, streamNames } from "../../packages/events/src/index.ts";
import { k6SyntaxError } from "../../packages/loadgate/src/syntax.ts";
import { loadRouteText, parseRouteFile } from "../../packages/route-file/src/index.ts";
import { createTestDatabase, TEST_NATS_URL } from "../../packages/testing/src/index.ts";
import { deriveNames, singularOf } from "../new-service/names.ts";
import { applyBlocks, fill } from "../new-service/render.ts";
import { nextFreePort } from "../new-service/scaffold.ts";
import { copyRepository, expectExit, type Run, run } from "./lib/repo-copy.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const STEP_MS = 300_000;

const ok = (r: Run) => expectExit(r, 0);

let copy: string;
const scaffold = (...args: string[]) => run([process.execPath, "run", "new", "service", ...args], copy);

/** The copy's file at `path`, or "" when it does not exist. */
const text = async (path: string) => (existsSync(join(copy, path)) ? readFile(join(copy, path), "utf8") : "");

/** Whether every line of `before` is still in `after`, in order (the edit only added lines). */
function onlyAdded(before: string, after: string): boolean {
  const added = after.split("\n");
  let at = 0;
  for (const line of before.split("\n")) {
    while (at < added.length && added[at] !== line) at++;
    if (at === added.length) return false;
    at++;
  }
  return true;
}

/** tsc over one service's src and test, with the repository's compiler options. */
async function typecheckService(name: string) {
  const config = `tsconfig.${name}.json`;
  await writeFile(
    join(copy, config),
    JSON.stringify({
      extends: "./tsconfig.json",
      include: [`services/${name}/src`, `services/${name}/test`],
    }),
  );
  return run([join(copy, "node_modules", ".bin", "tsc"), "--noEmit", "-p", config], copy);
}

/** A durable consumer on the namespace's events stream once it exists (polled; a deadline fails the test). */
async function followerConsumer(namespace: string, name: string) {
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "new-service-test-follower" });
  try {
    const jsm = await nats.manager();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await jsm.consumers.info(streamNames(namespace).events, name).catch(() => undefined);
      if (info) return { filter: info.config.filter_subject };
      if (Date.now() > deadline) throw new Error(`no consumer ${name} on ${streamNames(namespace).events}`);
      await Bun.sleep(100);
    }
  } finally {
    await nats.close();
  }
}

beforeAll(async () => {
  copy = await copyRepository(ROOT, "fig-new-service-");
}, STEP_MS);

afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

describe("names and templates", () => {
  test("a resource's singular and the identifiers derived from the two slugs", () => {
    expect(
      ["notes", "entries", "addresses", "boxes", "status", "case-notes", "data"].map(singularOf),
    ).toEqual(["note", "entry", "address", "box", "status", "case-note", "data"]);
    expect(deriveNames("case-notes", "billing-entries")).toMatchObject({
      env: "CASE_NOTES",
      database: "case_notes",
      table: "billing_entries",
      plural: "billingEntries",
      Plural: "BillingEntries",
      Singular: "BillingEntry",
      singularWords: "billing entry",
    });
  });

  test("blocks keep or drop whole lines by flag; a template's mistake is named with its file", () => {
    const text = "a\n{{#db}}\nb\n{{/db}}\n{{^db}}\nc\n{{/db}}\nd";
    expect(applyBlocks(text, { db: true }, "t")).toBe("a\nb\nd");
    expect(applyBlocks(text, { db: false }, "t")).toBe("a\nc\nd");
    expect(() => applyBlocks("{{#db}}\nx", { db: true }, "t.tmpl")).toThrow(
      "t.tmpl: {{#db}} is never closed",
    );
    expect(() => fill("{{nope}}", {}, "t.tmpl")).toThrow("t.tmpl: unknown placeholder {{nope}}");
  });
});

describe("bun run new service case-notes --resource notes (with a database)", () => {
  let before: { routes: string; compose: string; port: number };
  let result: Run;

  beforeAll(async () => {
    before = {
      routes: await text("fig.yaml"),
      compose: await text("compose.yaml"),
      port: nextFreePort(copy),
    };
    result = await scaffold("case-notes", "--resource", "notes");
  }, STEP_MS);

  test("writes the service and says what it wrote and what to do next", async () => {
    ok(result);
    expect(result.stdout).toContain(`services/case-notes: port ${before.port}, /api/notes`);
    for (const path of [
      "services/case-notes/src/app.ts",
      "services/case-notes/src/main.ts",
      "services/case-notes/src/config.ts",
      "services/case-notes/src/routes/notes/routes.ts",
      "services/case-notes/src/routes/notes/handlers.ts",
      "services/case-notes/src/domain/notes.ts",
      "services/case-notes/src/db/schema.ts",
      "services/case-notes/src/events.ts",
      "services/case-notes/test/security.test.ts",
      "services/case-notes/test/domain.test.ts",
      "services/case-notes/Dockerfile",
      "loadtests/case-notes.js",
      "openapi/case-notes.json",
    ]) {
      expect({ path, exists: existsSync(join(copy, path)) }).toEqual({ path, exists: true });
      expect(result.stdout).toContain(path);
    }
    expect(result.stdout).toContain("bun run promote case-notes --to case-notes");
    const manifest = JSON.parse(await text("services/case-notes/package.json"));
    expect(manifest).toMatchObject({ name: "@fig/case-notes", fig: { port: before.port } });
  });

  test(
    "bun.lock has the new workspace: CI's `bun install --frozen-lockfile` passes",
    async () => {
      expect(await text("bun.lock")).toContain(
        '"@fig/case-notes": ["@fig/case-notes@workspace:services/case-notes"]',
      );
      ok(await run([process.execPath, "install", "--frozen-lockfile"], copy));
    },
    STEP_MS,
  );

  test("its first migration is drizzle-kit's (its table, the outbox, data sync's inbox and sync_keys), plus row-level security", async () => {
    const journal = JSON.parse(await text("services/case-notes/drizzle/meta/_journal.json"));
    expect(journal.entries.map((e: { tag: string }) => e.tag)).toEqual(["0000_init", "0001_tenant_rls"]);
    const init = await text("services/case-notes/drizzle/0000_init.sql");
    expect(init).toContain('CREATE TABLE "notes"');
    expect(init).toContain('CREATE TABLE "outbox"');
    // migrate-data backfills into it and the follower applies into it: a route's data can move here unedited.
    expect(init).toContain('CREATE TABLE "sync_keys"');
    expect(init).toContain('CREATE TABLE "inbox"');
    expect(await text("services/case-notes/drizzle/0001_tenant_rls.sql")).toContain(
      'ALTER TABLE "notes" FORCE ROW LEVEL SECURITY',
    );
  });

  test(
    "Biome finds nothing in what it wrote, and tsc finds no error in the service",
    async () => {
      ok(
        await run(
          [process.execPath, "x", "biome", "check", "services/case-notes", "loadtests/case-notes.js"],
          copy,
        ),
      );
      ok(await typecheckService("case-notes"));
    },
    STEP_MS,
  );

  test(
    "its Dockerfile's build step bundles it (bun scripts/build.ts --service case-notes)",
    async () => {
      ok(await run([process.execPath, "scripts/build.ts", "--service", "case-notes"], copy));
      expect(existsSync(join(copy, "services/case-notes/dist/main.js"))).toBe(true);
      expect(await text("services/case-notes/Dockerfile")).toContain(
        "RUN bun scripts/build.ts --service case-notes",
      );
    },
    STEP_MS,
  );

  test(
    "its OpenAPI document and the gateway's merged one are up to date, and Redocly passes it",
    async () => {
      const check = await run([process.execPath, "scripts/openapi.ts", "--check"], copy);
      expect(check.stdout).toContain("✓ openapi/case-notes.json is up to date and valid");
      expect(`${check.stdout}${check.stderr}`).not.toContain("openapi/gateway.json differs");
      const spec = JSON.parse(await text("openapi/case-notes.json"));
      expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/api/notes", "/api/notes/{id}"]));
      const redocly = join(copy, "node_modules", ".bin", "redocly");
      ok(
        await run(
          [process.execPath, "--bun", redocly, "lint", "--config", "redocly.yaml", "openapi/case-notes.json"],
          copy,
          {
            REDOCLY_TELEMETRY: "off",
            REDOCLY_SUPPRESS_UPDATE_NOTICE: "true",
          },
        ),
      );
    },
    STEP_MS,
  );

  test(
    "its own tests pass: the happy path and the security table, against real Postgres",
    async () => {
      const tests = await run([process.execPath, "test", "--timeout", "60000", "services/case-notes"], copy);
      ok(tests);
      expect(tests.stderr).toMatch(/\b0 fail\b/);
      for (const file of ["notes.test.ts", "security.test.ts", "domain.test.ts"])
        expect(tests.stderr).toContain(file);
    },
    STEP_MS,
  );

  test(
    "main.ts starts it on a fresh Postgres database and NATS, and its gate script passes against it",
    async () => {
      const tdb = await createTestDatabase({
        service: "case-notes",
        requiresServer: "the service runs as a child process on the database",
      });
      const namespace = `nsvc${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
      const secret = "fig-new-service-test-secret-0123456789abcdef";
      const service = Bun.spawn([process.execPath, "services/case-notes/src/main.ts"], {
        cwd: copy,
        env: {
          ...process.env,
          PORT: "0",
          HOST: "127.0.0.1",
          DATABASE_URL: tdb.url ?? "",
          NATS_URL: TEST_NATS_URL,
          FIG_NAMESPACE: namespace,
          NODE_ENV: "development",
          AUTH_DEV_SECRET: secret,
          LOG_LEVEL: "info",
          LOG_PRETTY: "false",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      try {
        // Its "listening" log line carries the URL of the port it got.
        let log = "";
        let url: string | undefined;
        const reader = service.stdout.getReader();
        while (!url) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`case-notes exited before listening:\n${log}`);
          log += new TextDecoder().decode(value);
          url = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(log)?.[1];
        }
        // Keep draining its log, so a full pipe never stalls it.
        void (async () => {
          while (!(await reader.read()).done);
        })();
        const deadline = Date.now() + 60_000;
        while (
          (await fetch(`${url}/ready`).then(
            (r) => r.status,
            () => 0,
          )) !== 200
        ) {
          if (Date.now() > deadline) throw new Error(`case-notes never became ready at ${url}/ready`);
          await Bun.sleep(200);
        }
        // Its data sync is wired: the follower of the route's write owner (the monolith until a flip) made its
        // durable consumer, the one `migrate-data flip` checks for.
        const follower = await followerConsumer(namespace, "case-notes-case-notes-sync");
        expect(follower).toMatchObject({ filter: `${namespace}.events.data.changed.monolith` });
        const token = await mintDevToken({
          secret,
          issuer: DEFAULT_ISSUER,
          audience: DEFAULT_AUDIENCE,
          sub: "gate",
          tenant: "fig",
          roles: ["editor", "gate"],
        });
        const gate = await run(
          [
            process.execPath,
            "run",
            "gate",
            "loadtests/case-notes.js",
            "--base-url",
            url,
            "--token",
            token,
          ].concat(["--vus", "2", "--duration", "3s", "--engine", "builtin"]),
          copy,
        );
        ok(gate);
      } finally {
        service.kill("SIGTERM");
        await service.exited;
        const nats = createNatsClient({ servers: TEST_NATS_URL, name: "new-service-test" });
        // Its streams and the KV buckets its follower watches (the gateway's routes, data sync's state).
        await deleteNamespace(await nats.manager(), namespace).catch(() => {});
        await nats.close();
        await tdb.drop();
      }
    },
    STEP_MS,
  );

  test("fig.yaml gets its upstream and a route at 0 % the gateway loads, keeps every line, and passes `fig routes check`", async () => {
    const after = await text("fig.yaml");
    expect(onlyAdded(before.routes, after)).toBe(true);
    const file = parseRouteFile(after, "fig.yaml");
    expect(file.upstreams["case-notes"]).toMatchObject({
      url: { env: "CASE_NOTES_URL", default: `http://127.0.0.1:${before.port}` },
      openapi: "openapi/case-notes.json",
      database: { env: "CASE_NOTES_DATABASE_URL" },
    });
    const route = file.routes.find((r) => r.name === "case-notes");
    expect(route).toMatchObject({
      matches: [{ path: { type: "PathPrefix", value: "/api/notes" } }],
      backendRefs: [
        { name: "monolith", weight: 100 },
        { name: "case-notes", weight: 0 },
      ],
      fig: {
        writes: "owner",
        writeOwner: "monolith",
        gate: { script: "loadtests/case-notes.js", roles: ["editor", "gate"], tenant: "fig" },
        // Its table is the route's data: migrate-data moves it, the service's follower applies the owner's changes.
        data: {
          event: "data.changed",
          tables: [{ name: "notes", key: ["id"], updatedAt: "updated_at", exclude: [] }],
        },
      },
    });
    const check = await run([process.execPath, "run", "fig", "routes", "check"], copy);
    ok(check);
    // As the gateway loads it (no variable set): the route at 0 %, its upstream at the service's dev port.
    const { table, upstreams } = loadRouteText(after, { env: {} });
    expect(upstreams["case-notes"]?.url).toBe(`http://127.0.0.1:${before.port}`);
    const seeded = table.routes.find((r) => r.id === "case-notes");
    expect(seeded?.upstreams.map((u) => [u.name, u.weight])).toEqual([
      ["monolith", 100],
      ["case-notes", 0],
    ]);
    expect(seeded?.prefixes).toEqual(["/api/notes"]);
  });

  test("its gate script is k6 ES2017 syntax", async () => {
    expect(k6SyntaxError(await text("loadtests/case-notes.js"), "loadtests/case-notes.js")).toBeNull();
  });

  test("compose.yaml gets its entry, its database and the gateway's URL for it, and keeps every line", async () => {
    const after = await text("compose.yaml");
    expect(onlyAdded(before.compose, after)).toBe(true);
    const compose = Bun.YAML.parse(after) as {
      services: Record<
        string,
        { build?: { dockerfile: string }; ports?: string[]; environment?: Record<string, string> }
      >;
      configs: Record<string, { content: string }>;
    };
    expect(compose.services["case-notes"]).toMatchObject({
      build: { dockerfile: "services/case-notes/Dockerfile" },
      ports: [`${before.port}:${before.port}`],
      environment: { DATABASE_URL: "postgres://postgres:fig@postgres:5432/case_notes" },
    });
    expect(compose.services.gateway?.environment?.CASE_NOTES_URL).toBe(`http://case-notes:${before.port}`);
    expect(compose.configs["postgres-databases"]?.content).toContain("CREATE DATABASE case_notes;");
  });
});

describe("bun run new service scratchpad --no-db --resource jottings", () => {
  let port: number;
  let result: Run;

  beforeAll(async () => {
    port = nextFreePort(copy);
    result = await scaffold("scratchpad", "--no-db", "--resource", "jottings");
  }, STEP_MS);

  test("takes the next free port and writes no database", async () => {
    ok(result);
    expect(port).toBeGreaterThan(JSON.parse(await text("services/case-notes/package.json")).fig.port);
    expect(JSON.parse(await text("services/scratchpad/package.json")).fig.port).toBe(port);
    expect(existsSync(join(copy, "services/scratchpad/drizzle"))).toBe(false);
    expect(existsSync(join(copy, "services/scratchpad/src/db"))).toBe(false);
    expect(await text("compose.yaml")).not.toContain("CREATE DATABASE scratchpad");
    const upstream = parseRouteFile(await text("fig.yaml"), "fig.yaml").upstreams.scratchpad;
    expect(upstream).toBeDefined();
    expect(upstream?.database).toBeUndefined();
    // Nothing to move: its route declares no data, and it has no events.ts.
    const route = parseRouteFile(await text("fig.yaml"), "fig.yaml").routes.find(
      (r) => r.name === "scratchpad",
    );
    expect(route?.fig?.data).toBeUndefined();
    expect(existsSync(join(copy, "services/scratchpad/src/events.ts"))).toBe(false);
  });

  test(
    "Biome, tsc and its own tests pass (the resource keeps its rows in memory)",
    async () => {
      ok(
        await run(
          [process.execPath, "x", "biome", "check", "services/scratchpad", "loadtests/scratchpad.js"],
          copy,
        ),
      );
      ok(await typecheckService("scratchpad"));
      const tests = await run([process.execPath, "test", "--timeout", "60000", "services/scratchpad"], copy);
      ok(tests);
      expect(tests.stderr).toMatch(/\b0 fail\b/);
      const check = await run([process.execPath, "scripts/openapi.ts", "--check"], copy);
      expect(check.stdout).toContain("✓ openapi/scratchpad.json is up to date and valid");
    },
    STEP_MS,
  );
});

describe("refusals: nothing is written", () => {
  const cases: [string, string[], RegExp][] = [
    ["an existing service", ["validation"], /services\/dash\/validation exists already/],
    ["an existing package", ["auth"], /the package @fig\/auth exists already \(packages\/auth\)/],
    ["a name the stack reserves", ["gateway"], /"gateway" is reserved/],
    [
      "uppercase and underscores",
      ["Case_Notes"],
      /must be lowercase letters and digits in dash-separated words/,
    ],
    ["a leading digit", ["9lives"], /must be lowercase letters and digits/],
    ["a trailing dash", ["notes-"], /must be lowercase letters and digits/],
    ["a URL variable that means something else", ["seed"], /SEED_URL already means something else/],
    [
      "a resource another route serves",
      ["billing-codes", "--resource", "codes"],
      /\/api\/codes is routed already/,
    ],
    [
      "a resource named like a shared schema",
      ["probs", "--resource", "problems"],
      /already has; choose another --resource/,
    ],
    ["no name", [], /name the service/],
  ];

  for (const [what, args, message] of cases) {
    test(`${what} (${args.join(" ") || "nothing"}) → exit 2 with the reason`, async () => {
      const watched = ["fig.yaml", "compose.yaml", "bun.lock"];
      const before = await Promise.all(watched.map(text));
      const refused = await scaffold(...args);
      expect({ code: refused.code, stderr: refused.stderr }).toEqual({
        code: 2,
        stderr: expect.stringMatching(message),
      });
      expect(await Promise.all(watched.map(text))).toEqual(before);
      const name = args[0];
      if (name && !["validation", "auth", "gateway"].includes(name))
        expect(existsSync(join(copy, "services", name))).toBe(false);
    });
  }
});
