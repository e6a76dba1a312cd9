import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenVerifier } from "@fig/auth";
import { createLogger } from "@fig/service";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { parseAllDocuments } from "yaml";
import { buildGateway } from "../../../services/gateway/src/app.ts";
import { createMemoryRouteStore } from "../../../services/gateway/src/state/memory-store.ts";
import { loadRouteFile } from "../src/index.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const CLI = join(ROOT, "packages", "route-file", "src", "cli.ts");
const AUTH = {
  issuer: "fig-export-test",
  audience: "fig",
  secret: "fig-export-test-secret-0123456789abcdef",
};

// A real gateway, built from fig.yaml, on a real port: the export reads its admin API as an operator would.
const { table } = loadRouteFile({
  file: join(ROOT, "fig.yaml"),
  env: { REFERENCE_DATA_URL: "http://reference-data:8082", VALIDATION_URL: "https://validation.internal" },
});
const store = createMemoryRouteStore([table.defaultRoute, ...table.routes]);
const { app } = buildGateway({
  table,
  store,
  verifier: createTokenVerifier({ issuer: AUTH.issuer, audience: AUTH.audience, devSecret: AUTH.secret }),
  logger: createLogger({ service: "export-test", level: "silent" }),
});
let server: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
});
const files: string[] = [];
afterAll(() => {
  server.stop(true);
  for (const file of files) rmSync(file, { force: true });
});

async function fig(args: string[], env: Record<string, string> = {}) {
  const child = Bun.spawn([process.execPath, CLI, ...args], {
    cwd: ROOT,
    env: {
      PATH: Bun.env.PATH ?? "", // for the child only; its config reads the rest from what is given here
      NODE_ENV: "development",
      AUTH_ISSUER: AUTH.issuer,
      AUTH_AUDIENCE: AUTH.audience,
      AUTH_DEV_SECRET: AUTH.secret,
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, code };
}

type Rule = {
  matches: { path: { type: string; value: string }; method?: string }[];
  backendRefs: { name: string; port: number; weight: number }[];
  filters?: {
    type: string;
    requestMirror: { backendRef: { name: string; port: number }; percent: number };
  }[];
  timeouts?: { request: string };
};

describe("fig export httproute", () => {
  test("prints the live state (not the file's seed) as HTTPRoutes the Gateway API schema accepts", async () => {
    await store.change(
      "validation",
      { kind: "weights", weights: { monolith: 70, validation: 30 } },
      { who: "test", why: "canary" },
    );
    const { stdout, stderr, code } = await fig(["export", "httproute", "--base-url", server.url.href]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });

    const docs = parseAllDocuments(stdout).map((d) => d.toJS());
    const routes = docs.map((doc) => new HTTPRoute(doc));
    for (const route of routes) route.validate(); // throws on anything the v1 schema refuses
    expect(routes.map((r) => r.metadata?.name)).toEqual([
      "default",
      "reference-data",
      "validation",
      "identity",
      "identity-users",
    ]);

    const validation = routes[2];
    const rule = validation?.spec.rules?.[0] as Rule;
    expect(rule.backendRefs).toEqual([
      { name: "monolith", port: 8081, weight: 70 },
      { name: "validation", port: 443, weight: 30 },
    ]);
    expect(rule.matches).toEqual([
      { path: { type: "PathPrefix", value: "/api/files" } },
      { path: { type: "PathPrefix", value: "/api/validations" } },
    ]);
    expect(rule.filters).toEqual([
      { type: "RequestMirror", requestMirror: { backendRef: { name: "validation", port: 443 }, percent: 0 } },
    ]);
    expect(rule.timeouts).toEqual({ request: "10000ms" });
    expect(validation?.metadata?.annotations).toEqual({
      "fig.dev/state": "active",
      "fig.dev/writes": "owner-per-request",
      "fig.dev/write-owner": "monolith",
      "fig.dev/read-fallback": "true",
    });
    const reference = routes[1]?.spec.rules?.[0] as Rule;
    expect(reference.backendRefs).toEqual([
      { name: "monolith", port: 8081, weight: 100 },
      { name: "reference-data", port: 8082, weight: 0 },
    ]);
    expect(routes[0]?.spec.rules?.[0]?.backendRefs).toEqual([{ name: "monolith", port: 8081, weight: 100 }]);
  });

  test("the schema check can fail: a weight the Gateway API refuses does not validate", () => {
    const bad = new HTTPRoute({
      metadata: { name: "bad" },
      spec: { rules: [{ backendRefs: [{ name: "monolith", port: 8081, weight: -1 }] }] },
    });
    expect(() => bad.validate()).toThrow();
  });

  test("a token the gateway refuses, or no gateway, is exit 1 with the reason", async () => {
    const refused = await fig(["export", "httproute", "--base-url", server.url.href, "--token", "not-a-jwt"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("answered 401");
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const gone = closed.url.href;
    closed.stop(true);
    const unreachable = await fig(["export", "httproute", "--base-url", gone]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("is the gateway running?");
  });
});

describe("fig routes check", () => {
  test("exit 0 with a one-line summary for the repository's fig.yaml", async () => {
    const { stdout, code } = await fig(["routes", "check"]);
    expect(code).toBe(0);
    expect(stdout.trim().split("\n")).toHaveLength(1);
    expect(stdout).toContain(
      "4 routes: reference-data (monolith 100%, reference-data 0%); validation (monolith 100%, validation 0%); identity (identity 100%); identity-users",
    );
  });

  test("exit 1 with each error as path: reason", async () => {
    const file = join(tmpdir(), `fig-check-${process.pid}.yaml`);
    files.push(file);
    await Bun.write(
      file,
      [
        "upstreams:",
        "  legacy: { url: { env: LEGACY_URL } }",
        "monolith: { backendRef: legacy }",
        "routes:",
        "  - name: notes",
        "    matches: [{ path: { value: /api/notes } }]",
        "    backendRefs: [{ name: legacy, weight: 90 }, { name: notes, weight: 0 }]",
        "",
      ].join("\n"),
    );
    const { stderr, code } = await fig(["routes", "check", "--file", file]);
    expect(code).toBe(1);
    expect(stderr).toContain(
      'routes[0].backendRefs[1].name: unknown upstream "notes" (known: legacy) (line 7)',
    );
    expect(stderr).toContain("routes[0].backendRefs: weights sum to 90, not 100 (line 7)");
    const missing = await fig(["routes", "check", "--file", `${file}.missing`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("(file): cannot read");
  });

  test("a variable the file needs is read from the environment: unset is exit 1, set is exit 0", async () => {
    const file = join(tmpdir(), `fig-check-env-${process.pid}.yaml`);
    files.push(file);
    await Bun.write(
      file,
      "upstreams:\n  legacy: { url: { env: LEGACY_URL } }\nmonolith: { backendRef: legacy }\n",
    );
    const unset = await fig(["routes", "check", "--file", file]);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain(
      "upstreams.legacy.url: environment variable LEGACY_URL is not set and has no default",
    );
    const set = await fig(["routes", "check", "--file", file], { LEGACY_URL: "http://legacy:8080" });
    expect(set.code).toBe(0);
  });

  test("an unknown command is a usage error (exit 2)", async () => {
    expect((await fig(["routes", "lint"])).code).toBe(2);
  });
});
