import { describe, expect, setSystemTime, test } from "bun:test";
import { AppError } from "@fig/service";
import { createTokenVerifier } from "../src/verify.ts";
import { AUDIENCE, figClaims, ISSUER, OTHER_SECRET, rsaKeys, SECRET, signHs256 } from "./fixtures.ts";

const base = { issuer: ISSUER, audience: AUDIENCE };

describe("createTokenVerifier refuses unsafe configuration", () => {
  test("no key source", () => {
    expect(() => createTokenVerifier(base)).toThrow(/no key source/);
  });

  test("HS or none among the key set's algorithms", async () => {
    const { jwks } = await rsaKeys();
    expect(() => createTokenVerifier({ ...base, jwks, algorithms: ["RS256", "HS256"] })).toThrow(
      /refused: HS256/,
    );
    expect(() => createTokenVerifier({ ...base, jwks, algorithms: ["none"] })).toThrow(/refused: none/);
    expect(() => createTokenVerifier({ ...base, jwks, algorithms: [] })).toThrow(/non-empty/);
  });

  test("a dev secret shorter than 32 bytes", () => {
    expect(() => createTokenVerifier({ ...base, devSecret: "short" })).toThrow(/at least 32 bytes/);
  });

  test("both jwksUrl and jwks, or a jwksUrl that is not http(s)", async () => {
    const { jwks } = await rsaKeys();
    expect(() => createTokenVerifier({ ...base, jwks, jwksUrl: "https://id.example/jwks" })).toThrow(
      /not both/,
    );
    expect(() => createTokenVerifier({ ...base, jwksUrl: "file:///etc/jwks.json" })).toThrow(/http\(s\)/);
    expect(() => createTokenVerifier({ ...base, jwksUrl: "not a url" })).toThrow(/not a URL/);
  });

  test("missing issuer or audience, negative clock tolerance", () => {
    expect(() => createTokenVerifier({ ...base, issuer: "", devSecret: SECRET })).toThrow(
      /issuer and audience/,
    );
    expect(() => createTokenVerifier({ ...base, devSecret: SECRET, clockToleranceSeconds: -1 })).toThrow(
      /clockToleranceSeconds/,
    );
  });
});

describe("verifyBearerToken", () => {
  const verifier = createTokenVerifier({ ...base, devSecret: SECRET });

  test("returns only the Fig claims", async () => {
    const claims = await verifier.verifyBearerToken(
      await signHs256(figClaims({ roles: ["admin", "viewer"] })),
    );
    expect(claims).toEqual({ sub: "alice", tenant: "acme", roles: ["admin", "viewer"] });
  });

  test("throws AppError('unauthorized') with an invalid_token challenge", async () => {
    const error = await verifier.verifyBearerToken("a.b.c").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).type).toBe("unauthorized");
    expect((error as AppError).status).toBe(401);
    expect((error as AppError).headers?.["www-authenticate"]).toStartWith('Bearer error="invalid_token"');
  });

  test("honours a custom clock tolerance", async () => {
    const strict = createTokenVerifier({ ...base, devSecret: SECRET, clockToleranceSeconds: 0 });
    const token = await signHs256(figClaims({ exp: Math.floor(Date.now() / 1000) - 5 }));
    await expect(verifier.verifyBearerToken(token)).resolves.toBeDefined();
    await expect(strict.verifyBearerToken(token)).rejects.toThrow("token expired");
  });

  test("sub must be a string", async () => {
    await expect(
      verifier.verifyBearerToken(await signHs256(figClaims({ sub: undefined, uid: 7 }))),
    ).rejects.toThrow(/claims missing or invalid: sub/);
  });

  test("a token far too long is refused before parsing", async () => {
    await expect(verifier.verifyBearerToken("a".repeat(10_000))).rejects.toThrow(/too long/);
  });
});

describe("the verified-token cache (cached)", () => {
  test("holds a token only once it verified, under its exact string, with its own claims", async () => {
    const verifier = createTokenVerifier({ ...base, devSecret: SECRET });
    const acme = await signHs256(figClaims({ sub: "alice", tenant: "acme" }));
    const globex = await signHs256(figClaims({ sub: "bob", tenant: "globex" }));
    expect(verifier.cached?.(acme)).toBeUndefined();
    await verifier.verifyBearerToken(acme);
    expect(verifier.cached?.(acme)).toMatchObject({ sub: "alice", tenant: "acme" });
    // Another tenant's token is its own entry: never answered with the first token's claims.
    expect(verifier.cached?.(globex)).toBeUndefined();
    await verifier.verifyBearerToken(globex);
    expect(verifier.cached?.(globex)).toMatchObject({ sub: "bob", tenant: "globex" });
    expect(verifier.cached?.(acme)).toMatchObject({ tenant: "acme" });
    // cachedBearer: the same entries, asked with the Authorization header's exact value.
    expect(verifier.cachedBearer?.(`Bearer ${acme}`)).toBe(verifier.cached?.(acme) as never);
    expect(verifier.cachedBearer?.(`Bearer ${globex}`)).toMatchObject({ tenant: "globex" });
    for (const other of [acme, `bearer ${acme}`, `Bearer  ${acme}`, `Bearer ${acme} `, `Bearer ${acme}x`])
      expect(verifier.cachedBearer?.(other)).toBeUndefined();
  });

  test("a bad token is never cached as good, and refused again on every try", async () => {
    const verifier = createTokenVerifier({ ...base, devSecret: SECRET });
    const forged = await signHs256(figClaims(), OTHER_SECRET);
    const expired = await signHs256(figClaims({ exp: Math.floor(Date.now() / 1000) - 3600 }));
    for (const token of [forged, expired, "a.b.c"]) {
      for (let i = 0; i < 2; i++)
        expect(await verifier.verifyBearerToken(token).catch((e: unknown) => e)).toBeInstanceOf(AppError);
      expect(verifier.cached?.(token)).toBeUndefined();
    }
  });

  test("an entry ends at the token's exp, and 60 s after its verification at the latest", async () => {
    const verifier = createTokenVerifier({ ...base, devSecret: SECRET });
    const at = Date.now();
    const soon = await signHs256(figClaims({ exp: Math.floor(at / 1000) + 20 }));
    const later = await signHs256(figClaims({ exp: Math.floor(at / 1000) + 3600 }));
    await verifier.verifyBearerToken(soon);
    await verifier.verifyBearerToken(later);
    try {
      setSystemTime(new Date(at + 21_000));
      expect(verifier.cached?.(soon)).toBeUndefined();
      expect(verifier.cached?.(later)).toBeDefined();
      setSystemTime(new Date(at + 61_000));
      expect(verifier.cached?.(later)).toBeUndefined();
    } finally {
      setSystemTime();
    }
  });

  test("bounded: past cacheEntries the oldest entry goes", async () => {
    const verifier = createTokenVerifier({ ...base, devSecret: SECRET, cacheEntries: 3 });
    const tokens = await Promise.all([1, 2, 3, 4].map((i) => signHs256(figClaims({ sub: `user-${i}` }))));
    for (const token of tokens) await verifier.verifyBearerToken(token);
    expect(verifier.cached?.(tokens[0] as string)).toBeUndefined();
    for (const token of tokens.slice(1)) expect(verifier.cached?.(token)).toBeDefined();
  });
});
