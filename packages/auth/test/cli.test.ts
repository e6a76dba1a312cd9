import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { DEV_SECRET_DEFAULT } from "../src/config.ts";
import { isOperator } from "../src/roles.ts";
import { createTokenVerifier } from "../src/verify.ts";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");

async function runCli(args: readonly string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, CLI, ...args], {
    env: { PATH: Bun.env.PATH ?? "", HOME: Bun.env.HOME ?? "", NODE_ENV: "development", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

describe("bun run token", () => {
  test("prints just a token the dev verifier accepts", async () => {
    const { stdout, exitCode } = await runCli([
      "--sub",
      "alice",
      "--tenant",
      "acme",
      "--roles",
      "editor,admin",
    ]);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const verifier = createTokenVerifier({
      issuer: "fig-dev",
      audience: "fig",
      devSecret: DEV_SECRET_DEFAULT,
    });
    expect(await verifier.verifyBearerToken(stdout.trim())).toEqual({
      sub: "alice",
      tenant: "acme",
      roles: ["editor", "admin"],
    });
  });

  test("mints an operator: --tenant platform --roles operator, which isOperator accepts", async () => {
    const { stdout, exitCode } = await runCli([
      "--sub",
      "you",
      "--tenant",
      "platform",
      "--roles",
      "operator",
    ]);
    expect(exitCode).toBe(0);
    const verifier = createTokenVerifier({
      issuer: "fig-dev",
      audience: "fig",
      devSecret: DEV_SECRET_DEFAULT,
    });
    const claims = await verifier.verifyBearerToken(stdout.trim());
    expect(claims).toEqual({ sub: "you", tenant: "platform", roles: ["operator"] });
    expect(isOperator(claims, "platform")).toBe(true);
  });

  test("uses AUTH_DEV_SECRET, AUTH_ISSUER, AUTH_AUDIENCE and --ttl", async () => {
    const secret = "cli-test-secret-0123456789abcdef-xyz";
    const { stdout, exitCode } = await runCli(
      ["--sub", "bob", "--tenant", "t1", "--roles", "viewer", "--ttl", "30m"],
      { AUTH_DEV_SECRET: secret, AUTH_ISSUER: "iss-cli", AUTH_AUDIENCE: "aud-cli" },
    );
    expect(exitCode).toBe(0);
    const token = stdout.trim();
    const payload = decodeJwt(token);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(1800);
    const verifier = createTokenVerifier({ issuer: "iss-cli", audience: "aud-cli", devSecret: secret });
    expect((await verifier.verifyBearerToken(token)).sub).toBe("bob");
  });

  test.each([
    {
      name: "unknown role",
      args: ["--sub", "a", "--tenant", "t", "--roles", "editor,root"],
      error: /unknown role root/,
    },
    { name: "missing --sub", args: ["--tenant", "t", "--roles", "viewer"], error: /--sub is required/ },
    { name: "missing --tenant", args: ["--sub", "a", "--roles", "viewer"], error: /--tenant is required/ },
    { name: "missing --roles", args: ["--sub", "a", "--tenant", "t"], error: /--roles is required/ },
    {
      name: "bad --ttl",
      args: ["--sub", "a", "--tenant", "t", "--roles", "viewer", "--ttl", "soon"],
      error: /ttl/,
    },
    {
      name: "unknown flag",
      args: ["--sub", "a", "--tenant", "t", "--roles", "viewer", "--admin"],
      error: /admin/,
    },
  ])("$name → exit 2 with usage", async ({ args, error }) => {
    const { stdout, stderr, exitCode } = await runCli(args);
    expect(exitCode).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(error);
    expect(stderr).toContain("Usage: bun run token");
  });

  test("refuses to mint in production", async () => {
    const { stdout, stderr, exitCode } = await runCli(["--sub", "a", "--tenant", "t", "--roles", "viewer"], {
      NODE_ENV: "production",
      AUTH_JWKS_URL: "https://id.example/jwks",
    });
    expect(exitCode).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/production/);
  });
});
