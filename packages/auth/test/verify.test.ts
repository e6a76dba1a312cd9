import { describe, expect, test } from "bun:test";
import { AppError } from "@fig/service";
import { createTokenVerifier } from "../src/verify.ts";
import { AUDIENCE, figClaims, ISSUER, rsaKeys, SECRET, signHs256 } from "./fixtures.ts";

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
