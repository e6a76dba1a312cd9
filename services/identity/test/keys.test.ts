import { afterAll, describe, expect, test } from "bun:test";
import { createTokenVerifier } from "@fig/auth";
import { TEST_AUTH } from "@fig/testing";
import { sql } from "drizzle-orm";
import { decodeProtectedHeader } from "jose";
import { rotateSigningKeys } from "../src/domain/keys.ts";
import { countOf, useIdentityApp } from "./helpers.ts";

const t = useIdentityApp();
type Jwks = { keys: { kid: string; kty: string; crv: string; alg: string; use: string; d?: string }[] };

const jwks = async () => (await (await t.request("/.well-known/jwks.json")).json()) as Jwks;
const statusOf = async (status: string) => {
  const [row] = (await t.tdb.db.execute(
    sql`select kid from signing_keys where status = ${status}`,
  )) as unknown as {
    kid: string;
  }[];
  return row?.kid;
};

async function clientToken(base = "") {
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: "validation",
    client_secret: "test-secret-validation",
  });
  const init = { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } };
  const res = base ? await fetch(`${base}/oauth/token`, init) : await t.app.request("/oauth/token", init);
  if (res.status !== 200) throw new Error(`token: HTTP ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe("discovery", () => {
  test("the JWKS publishes the current and next Ed25519 public keys, cacheable, never a private part", async () => {
    const res = await t.request("/.well-known/jwks.json");
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    const { keys } = (await res.json()) as Jwks;
    expect(keys.map((k) => k.kid).sort()).toEqual(
      [await statusOf("current"), await statusOf("next")].sort() as string[],
    );
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
      expect(key.d).toBeUndefined();
    }
    // At rest the private key is sealed, not a JWK.
    expect(await countOf(t, sql`select count(*) as n from signing_keys where private_jwk like '{%'`)).toBe(0);
  });

  test("the OpenID configuration names the issuer, the key set and the token endpoint", async () => {
    const res = await t.request("/.well-known/openid-configuration");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      issuer: TEST_AUTH.issuer,
      jwks_uri: "http://gateway.test/.well-known/jwks.json",
      token_endpoint: "http://gateway.test/oauth/token",
      id_token_signing_alg_values_supported: ["EdDSA"],
      grant_types_supported: ["client_credentials"],
    });
  });
});

describe("rotation", () => {
  test("next becomes current and signs; the old current stays published until its tokens expire", async () => {
    const before = { current: await statusOf("current"), next: await statusOf("next") };
    const rotation = await rotateSigningKeys(t.tdb.db, t.cipher);
    expect(rotation).toMatchObject({ retired: before.current, current: before.next });
    expect(decodeProtectedHeader(await clientToken()).kid).toBe(before.next as string);
    const kids = (await jwks()).keys.map((k) => k.kid);
    expect(kids).toEqual([rotation.current, rotation.next, before.current as string]);
    // Once older than the access token lifetime (+ skew), the retired key leaves the set.
    await t.tdb.db.execute(
      sql`update signing_keys set retired_at = now() - interval '1 hour' where kid = ${before.current}`,
    );
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(before.current as string);
    expect(
      await countOf(t, sql`select count(*) as n from outbox where type = 'identity.key.rotated'`),
    ).toBeGreaterThan(0);
  });

  const servers: { stop(force: boolean): unknown }[] = [];
  afterAll(() => {
    for (const server of servers) server.stop(true);
  });

  test("under load, two rotations (the first by `bun run identity rotate-keys`) cost zero 401s; a verifier refetches on an unknown kid", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => t.app.fetch(req) });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    let fetches = 0;
    let lastFetch = 0;
    const cooldownMs = 300;
    const verifier = createTokenVerifier({
      issuer: TEST_AUTH.issuer,
      audience: TEST_AUTH.audience,
      jwksUrl: `${base}/.well-known/jwks.json`,
      algorithms: ["EdDSA"],
      jwksCooldownMs: cooldownMs,
      onKeySetFetch: () => {
        fetches++;
        lastFetch = Date.now();
      },
    });
    const okByKid = new Map<string, number>();
    const failures: string[] = [];
    let running = true;
    async function worker() {
      while (running) {
        const token = await clientToken(base);
        const kid = decodeProtectedHeader(token).kid as string;
        try {
          await verifier.verifyBearerToken(token);
          okByKid.set(kid, (okByKid.get(kid) ?? 0) + 1);
        } catch (error) {
          failures.push(`${kid}: ${(error as Error).message}`);
        }
      }
    }
    const until = async (what: string, done: () => boolean) => {
      const deadline = Date.now() + 60_000;
      while (!done()) {
        if (Date.now() > deadline || failures.length > 0)
          throw new Error(`${what}: ${failures.join("; ") || "timed out"}`);
        await Bun.sleep(10);
      }
    };
    const verifiedWith = (kid: string | undefined, n: number) => () => (okByKid.get(kid as string) ?? 0) >= n;
    const workers = Array.from({ length: 4 }, worker);
    try {
      const first = await statusOf("current");
      await until("tokens of the first key", verifiedWith(first, 20));
      // 1: the real CLI, in another process, on the same database.
      const cli = Bun.spawn(["bun", "services/identity/src/cli.ts", "rotate-keys"], {
        cwd: `${import.meta.dir}/../../..`,
        env: { ...Bun.env, DATABASE_URL: t.tdb.url ?? "", NATS_URL: "" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, out, err] = await Promise.all([
        cli.exited,
        new Response(cli.stdout).text(),
        new Response(cli.stderr).text(),
      ]);
      expect({ code, err }).toEqual({ code: 0, err: "" });
      const second = await statusOf("current");
      expect(out).toContain(`current ${second}`);
      expect(second).not.toBe(first);
      await until("tokens of the second key", verifiedWith(second, 20));
      // The second key was published before the verifier's first fetch: no refetch was needed.
      const fetchesAfterFirst = fetches;
      // 2: a key the verifier has never seen (published after its fetch): it must refetch, once its cooldown allows.
      await until("the verifier's cooldown", () => Date.now() - lastFetch > cooldownMs);
      const third = (await rotateSigningKeys(t.tdb.db, t.cipher)).current;
      await until("tokens of the third key", verifiedWith(third, 20));
      running = false;
      await Promise.all(workers);
      const verified = [...okByKid.values()].reduce((a, b) => a + b, 0);
      console.log(
        `[identity] rotation under load: ${verified} tokens verified, ${failures.length} × 401, JWKS fetches ${fetches} (first 1, after rotation 1: ${fetchesAfterFirst - 1}, after rotation 2: ${fetches - fetchesAfterFirst})`,
      );
      expect(failures).toEqual([]);
      expect(fetchesAfterFirst).toBe(1);
      expect(fetches).toBe(2);
    } finally {
      running = false;
      await Promise.all(workers);
    }
  });
});
