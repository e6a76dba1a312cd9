import { describe, expect, test } from "bun:test";
import { DEV_SECRET_DEFAULT, readServiceAuthConfig, withDevAuthDefaults } from "../src/index.ts";

describe("withDevAuthDefaults: the dev secret for dev scripts and bun run dev's services", () => {
  test("an empty environment outside production gets the dev default, which a service accepts", () => {
    const { env, defaulted } = withDevAuthDefaults({});
    expect(defaulted).toBe(true);
    expect(env.AUTH_DEV_SECRET).toBe(DEV_SECRET_DEFAULT);
    expect(readServiceAuthConfig(env).devSecret).toBe(DEV_SECRET_DEFAULT);
    expect(withDevAuthDefaults({ NODE_ENV: "test", AUTH_DEV_SECRET: " " }).defaulted).toBe(true);
  });

  test("a secret already set is kept", () => {
    const own = "an-own-secret-of-at-least-32-bytes!!";
    expect(withDevAuthDefaults({ AUTH_DEV_SECRET: own })).toEqual({
      env: { AUTH_DEV_SECRET: own },
      defaulted: false,
    });
  });

  test("production gets nothing, and a service there still refuses to start without JWKS", () => {
    const { env, defaulted } = withDevAuthDefaults({ NODE_ENV: "production" });
    expect(defaulted).toBe(false);
    expect(env.AUTH_DEV_SECRET).toBeUndefined();
    expect(() => readServiceAuthConfig(env)).toThrow(/AUTH_JWKS_URL.*production/);
  });

  test("the input is not changed", () => {
    const input: Record<string, string | undefined> = {};
    withDevAuthDefaults(input);
    expect(input).toEqual({});
  });
});
