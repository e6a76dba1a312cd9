import { describe, expect, test } from "bun:test";
import { baseConfigShape, ConfigError, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";
import { readServiceAuthConfig } from "../src/index.ts";

// One config error style: every reader throws ConfigError, and combineConfig lists all their problems at once.
describe("config errors", () => {
  const Env = z.object({ ...baseConfigShape, PORT: z.coerce.number().int().max(65535).default(8080) });
  const read = (env: Record<string, string | undefined>) => {
    const cleaned = withoutEmptyValues(env);
    return combineConfig({
      service: () => parseConfig(Env, cleaned),
      auth: () => readServiceAuthConfig(cleaned),
    });
  };

  test("a service's and auth's problems come back together, one per variable", () => {
    let error: unknown;
    try {
      read({ PORT: "99999", LOG_LEVEL: "loud", AUTH_CLOCK_TOLERANCE_S: "soon" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.some((p) => p.startsWith("PORT:"))).toBe(true);
    expect(problems.some((p) => p.startsWith("LOG_LEVEL:"))).toBe(true);
    expect(problems).toContain("AUTH_CLOCK_TOLERANCE_S: must be a whole number of seconds");
  });

  test("empty and blank values count as unset, for the service and auth alike", () => {
    const config = read({
      PORT: " ",
      AUTH_JWKS_URL: "",
      AUTH_DEV_SECRET: "a-dev-secret-of-at-least-32-bytes!!",
    });
    expect(config.auth.jwksUrl).toBeUndefined();
    expect(config.service.PORT).toBe(8080);
    expect(config.service.LOG_LEVEL).toBe("info");
  });

  test("a reader's bug is not mistaken for a config problem", () => {
    expect(() =>
      combineConfig({
        broken: () => {
          throw new TypeError("undefined is not a function");
        },
      }),
    ).toThrow(TypeError);
  });
});
