import { join } from "node:path";
import { devScriptEnv, readAuthConfig } from "@fig/auth";
import { readDevDatabases } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { type LoadedRouteFile, loadRouteFile } from "@fig/route-file";
import { combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

/** The repository's fig.yaml, three levels up from src/. */
export const DEFAULT_ROUTES_FILE = join(import.meta.dir, "..", "..", "..", "fig.yaml");

const CliEnv = z.object({
  ...natsConfigShape,
  /** The route file: each route's `fig.data`, and each upstream's `database: { env: … }`. */
  FIG_ROUTES_FILE: z.string().default(DEFAULT_ROUTES_FILE),
  /** Where `bun run dev` writes its services' database URLs (dev-databases.json), read when a variable is unset. */
  DATA_DIR: z.string().default(".data"),
  /** The gateway's admin API (write hold, write owner, history). */
  GATEWAY_URL: z.url().default("http://127.0.0.1:8080"),
  /** An operator's bearer token for the gateway; without it one is minted with AUTH_DEV_SECRET (dev default outside production). */
  GATEWAY_TOKEN: z.string().optional(),
  /** The tenant whose operators steer the gateway's /_fig (the minted token's tenant). */
  FIG_OPERATOR_TENANT: z.string().min(1).default("platform"),
  /** Rows per backfill page (one transaction on the candidate each). */
  MIGRATE_BATCH: z.coerce.number().int().min(1).max(50_000).default(2000),
  /** How long the gateway holds a route's new writes during a flip before answering 503 (≤ 2 s by default). */
  FLIP_HOLD_MS: z.coerce.number().int().min(100).max(30_000).default(2000),
});

/** An upstream's database: its URL (when known), and where it came from or which variable would name it. */
export type SideDatabase = { url: string | undefined; source: string; variable: string | undefined };

export type CliConfig = z.infer<typeof CliEnv> & {
  auth: ReturnType<typeof readAuthConfig>;
  routeFile: LoadedRouteFile;
  /** Upstream → its database, read and written directly (an operator tool, like pg_dump). */
  databases: Record<string, SideDatabase>;
};

/** The only place `migrate-data` reads the environment; every bad variable is reported at once. */
export function loadCliConfig(env: Record<string, string | undefined> = devScriptEnv()): CliConfig {
  const cleaned = withoutEmptyValues(env);
  const { cli, auth } = combineConfig({
    cli: () => parseConfig(CliEnv, cleaned),
    auth: () => readAuthConfig(cleaned),
  });
  // migrate-data sends to no upstream: only their databases are needed.
  const routeFile = loadRouteFile({ file: cli.FIG_ROUTES_FILE, env: cleaned, requireUrls: false });
  return { ...cli, auth, routeFile, databases: sideDatabases(routeFile, cli.DATA_DIR) };
}

/**
 * Each upstream's database URL: its `database:` in the route file (the variable it names, resolved), else the
 * URL a running `bun run dev` wrote down for the service of that name, so the quick start needs no variable.
 */
function sideDatabases(routeFile: LoadedRouteFile, dataDir: string): Record<string, SideDatabase> {
  const dev = readDevDatabases(dataDir);
  const out: Record<string, SideDatabase> = {};
  for (const [name, upstream] of Object.entries(routeFile.upstreams)) {
    const declared = routeFile.file.upstreams[name]?.database;
    const variable =
      typeof declared === "object" && declared !== null ? (declared as { env: string }).env : undefined;
    if (upstream.database)
      out[name] = { url: upstream.database, source: variable ?? "the route file", variable };
    else if (dev?.databases[name])
      out[name] = {
        url: dev.databases[name],
        source: `${dev.path}, written by bun run dev (pid ${dev.pid}, ${dev.kind})`,
        variable,
      };
    else out[name] = { url: undefined, source: "unset", variable };
  }
  return out;
}
