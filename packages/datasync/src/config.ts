import { devScriptEnv, readAuthConfig } from "@fig/auth";
import { readDevDatabases } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const CliEnv = z.object({
  ...natsConfigShape,
  /** Each side's database, read and written directly (an operator tool, like pg_dump). */
  MONOLITH_DATABASE_URL: z.url().optional(),
  REFERENCE_DATA_DATABASE_URL: z.url().optional(),
  /** Where `bun run dev` writes its services' database URLs (dev-databases.json), read when those are unset. */
  DATA_DIR: z.string().default(".data"),
  /** The gateway's admin API (write hold, write owner, history). */
  GATEWAY_URL: z.url().default("http://127.0.0.1:8080"),
  /** An admin bearer token for the gateway; without it one is minted with AUTH_DEV_SECRET (dev default outside production). */
  GATEWAY_TOKEN: z.string().optional(),
  /** Rows per backfill page (one transaction on the candidate each). */
  MIGRATE_BATCH: z.coerce.number().int().min(1).max(50_000).default(2000),
  /** How long the gateway holds a route's new writes during a flip before answering 503 (≤ 2 s by default). */
  FLIP_HOLD_MS: z.coerce.number().int().min(100).max(30_000).default(2000),
});

/** Each database variable and the service whose database it names. */
const DATABASE_VARIABLES = {
  MONOLITH_DATABASE_URL: "monolith",
  REFERENCE_DATA_DATABASE_URL: "reference-data",
} as const;

export type CliConfig = z.infer<typeof CliEnv> & {
  auth: ReturnType<typeof readAuthConfig>;
  /** Variable → where its URL came from: the variable itself, or the file a running `bun run dev` wrote. */
  databaseSources: Partial<Record<keyof typeof DATABASE_VARIABLES, string>>;
};

/** The only place `migrate-data` reads the environment; every bad variable is reported at once. */
export function loadCliConfig(env: Record<string, string | undefined> = devScriptEnv()): CliConfig {
  const cleaned = withoutEmptyValues(env);
  const { cli, auth } = combineConfig({
    cli: () => parseConfig(CliEnv, cleaned),
    auth: () => readAuthConfig(cleaned),
  });
  const databaseSources = fillFromDevRunner(cli);
  return { ...cli, auth, databaseSources };
}

/** Unset database variables take the URL a running `bun run dev` wrote down, so the quick start needs none. */
function fillFromDevRunner(cli: z.infer<typeof CliEnv>): CliConfig["databaseSources"] {
  const sources: CliConfig["databaseSources"] = {};
  const dev = readDevDatabases(cli.DATA_DIR);
  for (const [variable, service] of Object.entries(DATABASE_VARIABLES) as [
    keyof typeof DATABASE_VARIABLES,
    string,
  ][]) {
    if (cli[variable]) sources[variable] = variable;
    else if (dev?.databases[service]) {
      cli[variable] = dev.databases[service];
      sources[variable] = `${dev.path}, written by bun run dev (pid ${dev.pid}, ${dev.kind})`;
    }
  }
  return sources;
}
