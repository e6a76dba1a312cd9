import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { createTokenVerifier } from "../src/verify.ts";
import {
  AUDIENCE,
  base64url,
  bearer,
  createTestApp,
  figClaims,
  ISSUER,
  OTHER_SECRET,
  REQUEST_ID,
  rsaKeys,
  SECRET,
  signHs256,
} from "./fixtures.ts";

const rsa = await rsaKeys();
const devApp = createTestApp(createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, devSecret: SECRET }));
const jwksApp = createTestApp(createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: rsa.jwks }));
const now = () => Math.floor(Date.now() / 1000);

const INVALID_TOKEN = /^Bearer error="invalid_token", error_description="[^"]+"$/;
const NO_TOKEN = 'Bearer realm="fig"';

function unsignedToken(): string {
  return `${base64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${base64url(JSON.stringify(figClaims()))}.`;
}

type Case = {
  name: string;
  app: ReturnType<typeof createTestApp>;
  authorization: () => Promise<string | undefined>;
  challenge: string | RegExp;
  detail: RegExp;
};

const rejected: Case[] = [
  {
    name: "no Authorization header",
    app: devApp,
    authorization: async () => undefined,
    challenge: NO_TOKEN,
    detail: /missing bearer token/i,
  },
  {
    name: "another scheme (Basic x)",
    app: devApp,
    authorization: async () => "Basic x",
    challenge: NO_TOKEN,
    detail: /bearer scheme/i,
  },
  {
    name: '"Bearer" with no token',
    app: devApp,
    authorization: async () => "Bearer",
    challenge: INVALID_TOKEN,
    detail: /empty/,
  },
  {
    name: "token that is not a JWT",
    app: devApp,
    authorization: async () => "Bearer not-a-jwt",
    challenge: INVALID_TOKEN,
    detail: /malformed/,
  },
  {
    name: "two tokens",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims())} extra`,
    challenge: INVALID_TOKEN,
    detail: /malformed/,
  },
  {
    name: "expired beyond the clock skew",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ exp: now() - 60 }))}`,
    challenge: INVALID_TOKEN,
    detail: /expired/,
  },
  {
    name: "not yet valid (nbf) beyond the clock skew",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ nbf: now() + 120 }))}`,
    challenge: INVALID_TOKEN,
    detail: /not yet valid/,
  },
  {
    name: "no exp",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ exp: undefined }))}`,
    challenge: INVALID_TOKEN,
    detail: /no expiry/,
  },
  {
    name: "wrong issuer",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ iss: "evil" }))}`,
    challenge: INVALID_TOKEN,
    detail: /issuer/,
  },
  {
    name: "wrong audience",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ aud: "other-app" }))}`,
    challenge: INVALID_TOKEN,
    detail: /audience/,
  },
  {
    name: "signed with another secret",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims(), OTHER_SECRET)}`,
    challenge: INVALID_TOKEN,
    detail: /signature is invalid/,
  },
  {
    name: "alg none against the dev secret",
    app: devApp,
    authorization: async () => `Bearer ${unsignedToken()}`,
    challenge: INVALID_TOKEN,
    detail: /alg none/,
  },
  {
    name: "alg none against a JWKS",
    app: jwksApp,
    authorization: async () => `Bearer ${unsignedToken()}`,
    challenge: INVALID_TOKEN,
    detail: /alg none/,
  },
  {
    name: "HS256 signed with the RSA public key PEM (alg confusion)",
    app: jwksApp,
    authorization: async () =>
      `Bearer ${await signHs256(figClaims(), new TextEncoder().encode(await exportSPKI(rsa.publicKey)))}`,
    challenge: INVALID_TOKEN,
    detail: /algorithm HS256 is not allowed/,
  },
  {
    name: "HS256 signed with the RSA public JWK (alg confusion)",
    app: jwksApp,
    authorization: async () => `Bearer ${await signHs256(figClaims(), JSON.stringify(rsa.publicJwk))}`,
    challenge: INVALID_TOKEN,
    detail: /algorithm HS256 is not allowed/,
  },
  {
    name: "RS256 token against a dev-secret-only verifier",
    app: devApp,
    authorization: async () => `Bearer ${await rsa.sign(figClaims())}`,
    challenge: INVALID_TOKEN,
    detail: /algorithm RS256 is not allowed/,
  },
  {
    name: "RS256 signed by a key not in the JWKS (same kid)",
    app: jwksApp,
    authorization: async () => `Bearer ${await (await rsaKeys()).sign(figClaims())}`,
    challenge: INVALID_TOKEN,
    detail: /signature is invalid/,
  },
  {
    name: "RS256 with an unknown kid",
    app: jwksApp,
    authorization: async () => `Bearer ${await (await rsaKeys("unknown-kid")).sign(figClaims())}`,
    challenge: INVALID_TOKEN,
    detail: /no signing key/,
  },
  {
    name: "claims missing tenant",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ tenant: undefined }))}`,
    challenge: INVALID_TOKEN,
    detail: /claims missing or invalid: tenant/,
  },
  {
    name: "claims with an unknown role",
    app: devApp,
    authorization: async () => `Bearer ${await signHs256(figClaims({ roles: ["root"] }))}`,
    challenge: INVALID_TOKEN,
    detail: /claims missing or invalid: roles/,
  },
];

describe("requireAuth rejects with 401 problem+json", () => {
  test.each(rejected)("$name", async ({ app, authorization, challenge, detail }) => {
    const value = await authorization();
    const res = await app.request("/me", value === undefined ? {} : { headers: { authorization: value } });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const header = res.headers.get("www-authenticate") ?? "";
    if (typeof challenge === "string") expect(header).toBe(challenge);
    else expect(header).toMatch(challenge);
    const body = (await res.json()) as { detail: string };
    expect(body.detail).toMatch(detail);
  });
});

test("401 body is a full problem document and leaks no secret", async () => {
  const res = await devApp.request("/me", bearer(await signHs256(figClaims(), OTHER_SECRET)));
  const text = await res.text();
  expect(JSON.parse(text)).toEqual({
    type: "https://fig.dev/problems/unauthorized",
    title: "Authentication required",
    status: 401,
    detail: "token signature is invalid",
    instance: REQUEST_ID,
  });
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(OTHER_SECRET);
});

test("the challenge stays a valid quoted string for a hostile alg", async () => {
  const header = base64url(JSON.stringify({ alg: 'HS256"\r\nx-evil: 1', typ: "JWT" }));
  const token = `${header}.${base64url(JSON.stringify(figClaims()))}.c2ln`;
  const res = await jwksApp.request("/me", bearer(token));
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe(
    'Bearer error="invalid_token", error_description="token algorithm (unrecognised) is not allowed"',
  );
  expect(res.headers.get("x-evil")).toBeNull();
});

describe("accepted tokens", () => {
  test("HS256 dev token: claims land in c.get('auth')", async () => {
    const res = await devApp.request("/me", bearer(await signHs256(figClaims({ extra: "dropped" }))));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: "alice", tenant: "acme", roles: ["editor"] });
  });

  test("lowercase scheme is accepted (RFC 7235: case-insensitive)", async () => {
    const res = await devApp.request("/me", {
      headers: { authorization: `bearer ${await signHs256(figClaims())}` },
    });
    expect(res.status).toBe(200);
  });

  test("expired or not-yet-valid within the 30 s clock skew", async () => {
    const late = await signHs256(figClaims({ exp: now() - 10 }));
    const early = await signHs256(figClaims({ nbf: now() + 10 }));
    expect((await devApp.request("/me", bearer(late))).status).toBe(200);
    expect((await devApp.request("/me", bearer(early))).status).toBe(200);
  });

  test("audience in a list", async () => {
    const res = await devApp.request("/me", bearer(await signHs256(figClaims({ aud: ["other", AUDIENCE] }))));
    expect(res.status).toBe(200);
  });

  test("RS256 via a local JWKS", async () => {
    const res = await jwksApp.request("/me", bearer(await rsa.sign(figClaims())));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sub: string }).sub).toBe("alice");
  });

  test("ES256 via a local JWKS when pinned to ES256", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "ec-1", alg: "ES256" }] };
    const app = createTestApp(
      createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks, algorithms: ["ES256"] }),
    );
    const token = await new SignJWT(figClaims())
      .setProtectedHeader({ alg: "ES256", kid: "ec-1" })
      .sign(privateKey);
    expect((await app.request("/me", bearer(token))).status).toBe(200);
    const defaults = createTestApp(createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks }));
    expect((await defaults.request("/me", bearer(token))).status).toBe(200);
    const onlyRs = createTestApp(
      createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks, algorithms: ["RS256"] }),
    );
    expect((await onlyRs.request("/me", bearer(token))).status).toBe(401);
  });

  test("dev secret and JWKS side by side: each verifies only its own algorithm", async () => {
    const app = createTestApp(
      createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: rsa.jwks, devSecret: SECRET }),
    );
    expect((await app.request("/me", bearer(await signHs256(figClaims())))).status).toBe(200);
    expect((await app.request("/me", bearer(await rsa.sign(figClaims())))).status).toBe(200);
    const confused = await signHs256(figClaims(), new TextEncoder().encode(await exportSPKI(rsa.publicKey)));
    const res = await app.request("/me", bearer(confused));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toBe("token signature is invalid");
  });
});

describe("RS256 via a JWKS URL served by Bun.serve", () => {
  let server: ReturnType<typeof Bun.serve>;
  let fetches = 0;

  beforeAll(() => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        if (new URL(req.url).pathname !== "/.well-known/jwks.json")
          return new Response("not found", { status: 404 });
        fetches += 1;
        return Response.json(rsa.jwks);
      },
    });
  });
  afterAll(() => server.stop(true));

  test("accepts a token signed by the served key, and caches the key set", async () => {
    const jwksUrl = new URL("/.well-known/jwks.json", server.url).href;
    const app = createTestApp(createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl }));
    const first = await app.request("/me", bearer(await rsa.sign(figClaims())));
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ sub: "alice", tenant: "acme", roles: ["editor"] });
    expect((await app.request("/me", bearer(await rsa.sign(figClaims({ sub: "bob" }))))).status).toBe(200);
    expect(fetches).toBe(1);
  });

  test("rejects a token the served key did not sign", async () => {
    const jwksUrl = new URL("/.well-known/jwks.json", server.url).href;
    const app = createTestApp(createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl }));
    const res = await app.request("/me", bearer(await (await rsaKeys()).sign(figClaims())));
    expect(res.status).toBe(401);
  });

  test("an unreachable key set is a 401 that says so", async () => {
    const jwksUrl = new URL("/missing.json", server.url).href;
    const app = createTestApp(createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl }));
    const res = await app.request("/me", bearer(await rsa.sign(figClaims())));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toBe("signing keys are unavailable");
  });
});

describe("requireRole", () => {
  const roleCases = [
    { roles: ["viewer"], path: "/edit", status: 403 },
    { roles: ["editor"], path: "/edit", status: 200 },
    { roles: ["admin"], path: "/edit", status: 200 },
    { roles: ["viewer", "admin"], path: "/edit", status: 200 },
    { roles: [], path: "/edit", status: 403 },
    { roles: ["editor"], path: "/admin", status: 403 },
    { roles: ["admin"], path: "/admin", status: 200 },
  ];

  test.each(roleCases)("$roles on $path → $status", async ({ roles, path, status }) => {
    const res = await devApp.request(path, bearer(await signHs256(figClaims({ roles }))));
    expect(res.status).toBe(status);
  });

  test("403 is problem+json with an insufficient_scope challenge", async () => {
    const res = await devApp.request("/edit", bearer(await signHs256(figClaims({ roles: ["viewer"] }))));
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toBe('Bearer error="insufficient_scope"');
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toEqual({
      type: "https://fig.dev/problems/forbidden",
      title: "Insufficient role",
      status: 403,
      detail: "Requires role editor or higher; the token has viewer",
      instance: REQUEST_ID,
    });
  });
});
