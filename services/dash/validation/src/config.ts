import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { databaseConfigShape } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { baseConfigShape, ConfigError, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const ServiceEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8083),
  ...databaseConfigShape,
  ...natsConfigShape,
  /** Uploads above this many bytes are refused with 413 (default 200 MB). */
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(200 * 1024 * 1024),
  /** Where the reference-data API is; its data seeds this service's read model. */
  REFERENCE_DATA_URL: z.url().default("http://127.0.0.1:8082"),
  /** A viewer token for reference-data; in development one is minted from AUTH_DEV_SECRET when unset. */
  REFERENCE_DATA_TOKEN: z.string().optional(),
  /** Run the validation worker in this process (`--worker-only` runs only the worker). */
  WORKER: z.enum(["on", "off"]).default("on"),
  /** Lines between two progress updates of a run; one due while the run's previous write is in flight is skipped. */
  WORKER_PROGRESS_EVERY_ROWS: z.coerce.number().int().positive().default(5000),
  WORKER_ACK_WAIT_MS: z.coerce.number().int().min(1000).default(30_000),
  WORKER_MAX_DELIVER: z.coerce.number().int().min(1).default(5),
});

export type Config = z.infer<typeof ServiceEnv> & { auth: AuthConfig; workerOnly: boolean };

/** The only place the validation service reads the environment (and argv). Every bad variable at once. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  argv = process.argv,
): Config {
  const cleaned = withoutEmptyValues(env);
  const { service, auth } = combineConfig({
    service: () => parseConfig(ServiceEnv, cleaned),
    auth: () => readServiceAuthConfig(cleaned),
  });
  if (!service.REFERENCE_DATA_TOKEN && !auth.client && !auth.devSecret) {
    throw new ConfigError([
      "REFERENCE_DATA_TOKEN: required when neither a client (AUTH_TOKEN_URL, AUTH_CLIENT_ID, AUTH_CLIENT_SECRET) nor AUTH_DEV_SECRET can get one",
    ]);
  }
  return { ...service, auth, workerOnly: argv.includes("--worker-only") };
}
