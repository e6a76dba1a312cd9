import { describe, expect, test } from "bun:test";
import { DEV_SECRET_DEFAULT, readAuthConfig, resolveDevSecret } from "../src/config.ts";
import { createTokenVerifier } from "../src/verify.ts";

describe("readAuthConfig", () => {
  test("defaults", () => {
    expect(readAuthConfig({})).toEqual({
      issuer: "fig-dev",
      audience: "fig",
      clockToleranceSeconds: 30,
      production: false,
    });
  });

  test("reads every variable; empty strings count as unset", () => {
    const config = readAuthConfig({
      AUTH_ISSUER: "https://id.example",
      AUTH_AUDIENCE: "fig-api",
      AUTH_JWKS_URL: "https://id.example/.well-known/jwks.json",
      AUTH_DEV_SECRET: "",
      AUTH_CLOCK_TOLERANCE_S: "5",
    });
    expect(config).toEqual({
      issuer: "https://id.example",
      audience: "fig-api",
      jwksUrl: "https://id.example/.well-known/jwks.json",
      clockToleranceSeconds: 5,
      production: false,
    });
  });

  test("its fields feed createTokenVerifier directly", () => {
    const config = readAuthConfig({ AUTH_DEV_SECRET: DEV_SECRET_DEFAULT });
    expect(() => createTokenVerifier(config)).not.toThrow();
  });

  test("lists every bad variable in one error", () => {
    let message = "";
    try {
      readAuthConfig({ AUTH_JWKS_URL: "ftp://x", AUTH_DEV_SECRET: "short", AUTH_CLOCK_TOLERANCE_S: "soon" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("Invalid configuration");
    expect(message).toContain("AUTH_JWKS_URL: must be an http(s) URL");
    expect(message).toContain("AUTH_DEV_SECRET: must be at least 32 bytes");
    expect(message).toContain("AUTH_CLOCK_TOLERANCE_S: must be a whole number of seconds");
  });

  test("production refuses a dev secret and requires a JWKS URL, listed together with other problems", () => {
    let message = "";
    try {
      readAuthConfig({
        NODE_ENV: "production",
        AUTH_DEV_SECRET: DEV_SECRET_DEFAULT,
        AUTH_CLOCK_TOLERANCE_S: "900",
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("AUTH_DEV_SECRET: is refused when NODE_ENV=production");
    expect(message).toContain("AUTH_JWKS_URL: is required when NODE_ENV=production");
    expect(message).toContain("AUTH_CLOCK_TOLERANCE_S: must be between 0 and 300");
    expect(message).not.toContain(DEV_SECRET_DEFAULT);
  });

  test("production with a JWKS URL", () => {
    const config = readAuthConfig({ NODE_ENV: "production", AUTH_JWKS_URL: "https://id.example/jwks" });
    expect(config.production).toBe(true);
    expect(config.devSecret).toBeUndefined();
  });
});

describe("resolveDevSecret", () => {
  test("AUTH_DEV_SECRET, else the default, never in production", () => {
    expect(DEV_SECRET_DEFAULT.length).toBeGreaterThanOrEqual(32);
    expect(resolveDevSecret(readAuthConfig({}))).toBe(DEV_SECRET_DEFAULT);
    const own = "my-own-dev-secret-0123456789abcdefgh";
    expect(resolveDevSecret(readAuthConfig({ AUTH_DEV_SECRET: own }))).toBe(own);
    const production = readAuthConfig({ NODE_ENV: "production", AUTH_JWKS_URL: "https://id.example/jwks" });
    expect(() => resolveDevSecret(production)).toThrow(/production/);
  });
});
