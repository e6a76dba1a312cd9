import { accessSync, constants } from "node:fs";
import { testConfig } from "./config.ts";

/**
 * The NATS server every test and bench shares: NATS_URL, else nats://127.0.0.1:4222. Tests make their own
 * namespace on it (streams, buckets) and delete it afterwards.
 *
 * @example
 * const nats = createNatsClient({ servers: TEST_NATS_URL, name: "my-test" });
 */
export const TEST_NATS_URL = testConfig.natsUrl;

/** Where Debian's package puts the binary, for a PATH that lacks /usr/sbin. */
const FALLBACK_NATS_SERVER = "/usr/sbin/nats-server";

/**
 * The nats-server binary for tests that run a private server (outages, restarts): the one on PATH, else
 * /usr/sbin/nats-server. Throws, naming both places, when neither is there: such a test must fail, not skip.
 *
 * @example
 * Bun.spawn([natsServerBinary(), "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir]);
 */
export function natsServerBinary(
  which: (command: string) => string | null = (command) => Bun.which(command),
  fallback = FALLBACK_NATS_SERVER,
): string {
  const onPath = which("nats-server");
  if (onPath) return onPath;
  try {
    accessSync(fallback, constants.X_OK);
    return fallback;
  } catch {
    throw new Error(
      `[testing] no nats-server on PATH nor at ${fallback}: install nats-server (https://github.com/nats-io/nats-server/releases) or put it on PATH`,
    );
  }
}
