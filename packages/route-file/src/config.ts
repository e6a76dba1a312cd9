import { join } from "node:path";
import { type AuthConfig, devScriptEnv, readAuthConfig } from "@fig/auth";
import { combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const FigCliEnv = z.object({
  /** The route file `fig routes check` reads unless --file is given. */
  FIG_ROUTES_FILE: z.string().default(join(process.cwd(), "fig.yaml")),
  /** The gateway whose live state `fig export httproute` reads (GET /_fig/routes). */
  FIG_GATEWAY_URL: z.url().default("http://127.0.0.1:8080"),
  /** An admin token for the gateway's admin API instead of minting a dev one (required in production). */
  FIG_TOKEN: z.string().optional(),
  /** The control plane's tenant: the minted token is an operator there (role `operator`). */
  FIG_OPERATOR_TENANT: z.string().default("platform"),
  USER: z.string().default("fig"),
});

export type FigCliConfig = z.infer<typeof FigCliEnv> & {
  auth: AuthConfig;
  /** The environment the route file's `{ env: NAME }` references are read from. */
  env: Record<string, string>;
};

/** The only place `bun run fig` reads the environment (a plain terminal talks to the dev stack). */
export function loadFigCliConfig(env: Record<string, string | undefined> = devScriptEnv()): FigCliConfig {
  const cleaned = withoutEmptyValues(env);
  const { settings, auth } = combineConfig({
    settings: () => parseConfig(FigCliEnv, cleaned),
    auth: () => readAuthConfig(cleaned),
  });
  return { ...settings, auth, env: cleaned };
}
