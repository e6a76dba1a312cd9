import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { databaseConfigShape } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { baseConfigShape, ConfigError, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

/** Public, so it protects nothing: development only; production must set IDENTITY_KEY_ENCRYPTION_KEY. */
export const DEV_KEY_ENCRYPTION_KEY = Buffer.from("fig-dev-key-encryption-key-32by!").toString("base64");

const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const list = z.string().transform((value) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean),
);

const ServiceEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8084),
  ...databaseConfigShape,
  ...natsConfigShape,
  /** Access token lifetime; at most 15 minutes. */
  IDENTITY_ACCESS_TTL_S: seconds(30, 900).default(600),
  /** Refresh token lifetime (each is used once; a session lives as long as it keeps refreshing). */
  IDENTITY_REFRESH_TTL_S: seconds(300, 90 * 86400).default(30 * 86400),
  /** 32 bytes, base64: encrypts the private signing keys at rest (AES-256-GCM). */
  IDENTITY_KEY_ENCRYPTION_KEY: z
    .string()
    .refine((value) => Buffer.from(value, "base64").length === 32, { error: "must be 32 bytes, base64" })
    .optional(),
  /** The base URL clients reach identity at (the gateway), for the discovery document. */
  IDENTITY_PUBLIC_URL: z.url().default("http://127.0.0.1:8080"),
  /** Seed a user per role in each dev tenant and the dev clients (docs/identity.md); refused in production. */
  IDENTITY_SEED: z.enum(["on", "off"]).optional(),
  IDENTITY_DEV_TENANTS: list.default(["acme", "fig", "platform"]),
  LOGIN_ACCOUNT_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
  LOGIN_IP_MAX_FAILURES: z.coerce.number().int().min(1).default(50),
  LOGIN_WINDOW_S: seconds(1, 86400).default(900),
  LOGIN_LOCKOUT_S: seconds(1, 86400).default(900),
  /** Peers whose X-Forwarded-For is believed (the gateway): the login's address is its last entry. */
  TRUSTED_PROXIES: list.default(["127.0.0.1", "::1", "::ffff:127.0.0.1"]),
});

export type Config = Omit<z.infer<typeof ServiceEnv>, "IDENTITY_KEY_ENCRYPTION_KEY" | "IDENTITY_SEED"> & {
  auth: AuthConfig;
  IDENTITY_KEY_ENCRYPTION_KEY: string;
  seed: boolean;
};

function productionProblems(env: z.infer<typeof ServiceEnv>, production: boolean): string[] {
  if (!production) return [];
  return [
    ...(env.IDENTITY_KEY_ENCRYPTION_KEY
      ? []
      : ["IDENTITY_KEY_ENCRYPTION_KEY: is required when NODE_ENV=production"]),
    ...(env.IDENTITY_SEED === "on" ? ["IDENTITY_SEED: dev users are refused when NODE_ENV=production"] : []),
  ];
}

/** The only place identity reads the environment. Every bad variable is reported at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = withoutEmptyValues(env);
  const { service, auth } = combineConfig({
    service: () => parseConfig(ServiceEnv, cleaned),
    auth: () => readServiceAuthConfig(cleaned),
  });
  const problems = productionProblems(service, auth.production);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...service,
    auth,
    IDENTITY_KEY_ENCRYPTION_KEY: service.IDENTITY_KEY_ENCRYPTION_KEY ?? DEV_KEY_ENCRYPTION_KEY,
    seed: (service.IDENTITY_SEED ?? (auth.production ? "off" : "on")) === "on",
  };
}
