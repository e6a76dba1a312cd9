import { describe, expect, test } from "bun:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { DEV_SECRET_DEFAULT } from "../src/config.ts";
import { mintDevToken } from "../src/mint.ts";
import { isRole, roleAtLeast } from "../src/roles.ts";
import { parseTtlSeconds } from "../src/ttl.ts";
import { createTokenVerifier } from "../src/verify.ts";

describe("mintDevToken", () => {
  test("mints an HS256 token the dev verifier accepts", async () => {
    const token = await mintDevToken({
      secret: DEV_SECRET_DEFAULT,
      sub: "alice",
      tenant: "acme",
      roles: ["editor"],
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    const payload = decodeJwt(token);
    expect(payload).toMatchObject({
      sub: "alice",
      tenant: "acme",
      roles: ["editor"],
      iss: "fig-dev",
      aud: "fig",
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    const verifier = createTokenVerifier({
      issuer: "fig-dev",
      audience: "fig",
      devSecret: DEV_SECRET_DEFAULT,
    });
    expect(await verifier.verifyBearerToken(token)).toEqual({
      sub: "alice",
      tenant: "acme",
      roles: ["editor"],
    });
  });

  test("ttl, issuer and audience are honoured", async () => {
    const token = await mintDevToken({
      secret: DEV_SECRET_DEFAULT,
      sub: "bob",
      tenant: "t1",
      roles: ["admin"],
      ttl: "30m",
      issuer: "iss-x",
      audience: "aud-y",
    });
    const payload = decodeJwt(token);
    expect(payload).toMatchObject({ iss: "iss-x", aud: "aud-y" });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(1800);
  });

  test("refuses a short secret, an unknown role or a bad ttl", async () => {
    const claims = { sub: "a", tenant: "t", roles: ["viewer" as const] };
    await expect(mintDevToken({ ...claims, secret: "short" })).rejects.toThrow(/32 bytes/);
    // @ts-expect-error an unknown role is a type error too
    await expect(mintDevToken({ ...claims, secret: DEV_SECRET_DEFAULT, roles: ["root"] })).rejects.toThrow();
    await expect(mintDevToken({ ...claims, secret: DEV_SECRET_DEFAULT, ttl: "1w" })).rejects.toThrow(
      /Invalid ttl/,
    );
  });
});

test("parseTtlSeconds", () => {
  expect(parseTtlSeconds("30m")).toBe(1800);
  expect(parseTtlSeconds("1h")).toBe(3600);
  expect(parseTtlSeconds("2d")).toBe(172800);
  expect(parseTtlSeconds("45s")).toBe(45);
  expect(parseTtlSeconds("90")).toBe(90);
  expect(parseTtlSeconds(120)).toBe(120);
  for (const bad of ["0", "-5", "1.5h", "h", "", "1 h", 0, -1, 1.5]) {
    expect(() => parseTtlSeconds(bad)).toThrow(/Invalid ttl/);
  }
});

test("roles: viewer < editor < admin", () => {
  expect(roleAtLeast(["admin"], "editor")).toBe(true);
  expect(roleAtLeast(["editor"], "editor")).toBe(true);
  expect(roleAtLeast(["viewer"], "editor")).toBe(false);
  expect(roleAtLeast([], "viewer")).toBe(false);
  expect(roleAtLeast(["viewer", "admin"], "admin")).toBe(true);
  expect(isRole("editor")).toBe(true);
  expect(isRole("toString")).toBe(false);
  expect(isRole("root")).toBe(false);
});
