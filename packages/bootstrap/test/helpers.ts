import { TEST_AUTH } from "@fig/testing";
import type { ServiceConfig } from "../src/index.ts";

/** A service config as a service's loadConfig would return it: port 0, silent, the test kit's dev secret. */
export function testServiceConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: 0,
    LOG_LEVEL: "silent",
    LOG_PRETTY: false,
    SHUTDOWN_TIMEOUT_MS: 4000,
    auth: {
      issuer: TEST_AUTH.issuer,
      audience: TEST_AUTH.audience,
      devSecret: TEST_AUTH.secret,
      clockToleranceSeconds: 30,
      production: false,
    },
    ...overrides,
  };
}

/** An `exit` that resolves a promise instead of ending the test process. */
export function exitProbe() {
  let resolve!: (code: number) => void;
  const exited = new Promise<number>((r) => {
    resolve = r;
  });
  return { exit: (code: number) => resolve(code), exited };
}
