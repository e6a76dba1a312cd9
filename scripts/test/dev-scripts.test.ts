/**
 * The scripts that talk to dev services (`bun run token`, `seed`, `events`) work from a plain terminal: each
 * runs here as a subprocess with only PATH and HOME set, against the real thing, and is refused in production.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import {
  createTokenVerifier,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  DEV_SECRET_DEFAULT,
  mintDevToken,
  readServiceAuthConfig,
  withDevAuthDefaults,
} from "../../packages/auth/src/index.ts";
import { createLogger } from "../../packages/service/src/index.ts";
import { createTestDatabase, type TestDatabase } from "../../packages/testing/src/index.ts";
import { buildApp } from "../../services/dash/reference-data/src/app.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A terminal with nothing set: PATH and HOME only, plus `extra`. */
async function runScript(args: string[], extra: Record<string, string> = {}) {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...extra };
  const proc = Bun.spawn([process.execPath, "run", ...args], {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

/** What the services `bun run dev` starts verify tokens with (NODE_ENV=development, no AUTH_* set). */
const devServiceVerifier = () =>
  createTokenVerifier(readServiceAuthConfig(withDevAuthDefaults({ NODE_ENV: "development" }).env));

describe("bun run token", () => {
  test("prints a token the dev services accept", async () => {
    const run = await runScript(["token", "--sub", "you", "--tenant", "acme", "--roles", "editor"]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({
      code: 0,
      stderr: expect.not.stringMatching(/error|failed|required/i),
    });
    const claims = await devServiceVerifier().verifyBearerToken(run.stdout.trim());
    expect(claims).toMatchObject({ sub: "you", tenant: "acme", roles: ["editor"] });
  });

  test("refuses in production", async () => {
    const run = await runScript(["token", "--sub", "you", "--tenant", "acme", "--roles", "editor"], {
      NODE_ENV: "production",
    });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/production/);
  });
});

describe("bun run seed", () => {
  let tdb: TestDatabase;
  let server: ReturnType<typeof Bun.serve>;
  let seedUrl: string;

  beforeAll(async () => {
    tdb = await createTestDatabase({
      service: "reference-data",
      migrationsFolder: fileURLToPath(new URL("../../services/dash/reference-data/drizzle", import.meta.url)),
    });
    const logger = createLogger({ service: "reference-data", level: "silent" });
    const app = buildApp({ db: tdb.db, verifier: devServiceVerifier(), logger });
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    seedUrl = `http://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server?.stop(true);
    await tdb?.drop();
  });

  test("imports the sample through a running reference-data, signed with the dev default", async () => {
    const run = await runScript(["seed"], { SEED_URL: seedUrl });
    expect({ code: run.code, stderr: run.stderr }).toEqual({
      code: 0,
      stderr: expect.not.stringMatching(/error|failed|required/i),
    });
    expect(run.stdout).toContain(`Seeding through the running service at ${seedUrl}`);
    for (const resource of ["codes", "contexts", "establishments", "rules"]) {
      expect(run.stdout).toMatch(new RegExp(`✓ ${resource} +\\d+ rows`));
    }
    const viewer = await mintDevToken({
      secret: DEV_SECRET_DEFAULT,
      sub: "test",
      tenant: "fig",
      roles: ["viewer"],
      issuer: DEFAULT_ISSUER,
      audience: DEFAULT_AUDIENCE,
    });
    const res = await fetch(`${seedUrl}/api/rules?limit=100`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(14);
  });

  test("refuses in production without a key source", async () => {
    const run = await runScript(["seed"], { SEED_URL: seedUrl, NODE_ENV: "production" });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/seed failed:.*AUTH_JWKS_URL.*production/s);
  });
});

describe("bun run events", () => {
  test("dlq list reads the real NATS on 127.0.0.1:4222 with no variables set", async () => {
    const run = await runScript(["events", "dlq", "list", "--limit", "5"]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({
      code: 0,
      stderr: expect.not.stringMatching(/error|failed|required/i),
    });
    expect(run.stdout).toMatch(/^(No dead letters in namespace fig\.|\s*\d+ .* after \d+ deliveries: )/);
  });
});
