import { type AuthConfig, devScriptEnv, readAuthConfig } from "@fig/auth";
import { natsConfigShape } from "@fig/events";
import { combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const PromoteEnv = z.object({
  ...natsConfigShape,
  /** The gateway the promotion drives (admin API, /metrics) and the gate targets. */
  FIG_GATEWAY_URL: z.url().default("http://127.0.0.1:8080"),
  /** An operator's token to use instead of minting a dev one (required in production). */
  FIG_PROMOTE_TOKEN: z.string().optional(),
  /** The gateway's operator tenant (its FIG_OPERATOR_TENANT): the dev token is minted with role operator there. */
  FIG_OPERATOR_TENANT: z.string().min(1).default("platform"),
  /** A token with role gate for the gate script (default: minted). */
  FIG_GATE_TOKEN: z.string().optional(),
  /** A promotion lock not renewed within this belongs to a dead process (NATS 2.9 has no per-message TTL). */
  FIG_PROMOTE_LEASE_MS: z.coerce.number().int().min(200).default(15_000),
  USER: z.string().default("promote"),
});

export type PromoteConfig = z.infer<typeof PromoteEnv> & { auth: AuthConfig };

/**
 * The only place `promote` reads the environment: from a plain terminal with no variables it talks to the
 * dev stack (NATS on 127.0.0.1:4222, namespace fig, the gateway on 8080, dev tokens outside production).
 */
export function loadPromoteConfig(env: Record<string, string | undefined> = devScriptEnv()): PromoteConfig {
  const cleaned = withoutEmptyValues(env);
  const { settings, auth } = combineConfig({
    settings: () => parseConfig(PromoteEnv, cleaned),
    auth: () => readAuthConfig(cleaned),
  });
  return { ...settings, auth };
}
