import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { natsConfigShape } from "@fig/events";
import { baseConfigShape, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const positiveInt = () => z.coerce.number().int().positive();

const GatewayEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  ...natsConfigShape,
  /** The strangled monolith: the default route, and every route's fallback. */
  MONOLITH_URL: z.url().default("http://127.0.0.1:8081"),
  REFERENCE_DATA_URL: z.url().default("http://127.0.0.1:8082"),
  VALIDATION_URL: z.url().default("http://127.0.0.1:8083"),
  /** Token bucket size per consumer and route, refilled over a minute (the roadmap's 100/min). */
  RATE_LIMIT_PER_MINUTE: positiveInt().default(100),
  /** The `gate` role's own limit, high so the load gates do not throttle themselves. */
  GATE_RATE_LIMIT_PER_MINUTE: positiveInt().default(1_000_000),
  /** The largest request body passed through (streamed, never buffered); upstreams apply their own limits. */
  MAX_REQUEST_BODY_BYTES: positiveInt().default(1024 * 1024 * 1024),
  /** Per-route upstream timeout unless the route sets one (the 10 s). */
  UPSTREAM_TIMEOUT_MS: positiveInt().default(10_000),
});

export type Config = z.infer<typeof GatewayEnv> & { auth: AuthConfig };

/** The only place the gateway reads the environment. Every bad variable is reported at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = withoutEmptyValues(env);
  const { service, auth } = combineConfig({
    service: () => parseConfig(GatewayEnv, cleaned),
    auth: () => readServiceAuthConfig(cleaned),
  });
  return { ...service, auth };
}
