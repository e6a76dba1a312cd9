/**
 * `bun run fig`: the route file's command line.
 *   fig routes check [--file fig.yaml]      validate; exit 0 with a summary, exit 1 with each `path: reason`
 *   fig export httproute [--base-url URL] [--token T] [--gateway fig] [--namespace NS]
 *                                           the live routes as Gateway API v1 HTTPRoute YAML, on stdout
 */
import { parseArgs } from "node:util";
import { mintDevToken, resolveDevSecret } from "@fig/auth";
import { ConfigError } from "@fig/service";
import { type FigCliConfig, loadFigCliConfig } from "./config.ts";
import { formatIssues, RouteFileError } from "./errors.ts";
import { httpRoutesYaml, type LiveRouteView } from "./httproute.ts";
import { loadRouteFile } from "./load.ts";

const USAGE = `usage:
  bun run fig routes check [--file fig.yaml]
  bun run fig export httproute [--base-url http://127.0.0.1:8080] [--token TOKEN] [--gateway fig] [--namespace NS]

routes check     validates the route file (FIG_ROUTES_FILE, default ./fig.yaml) and the variables it names
export httproute prints the gateway's live routes (GET /_fig/routes) as Gateway API v1 HTTPRoute YAML;
                 without --token (or FIG_TOKEN) a dev operator token is minted (FIG_OPERATOR_TENANT)`;

export type CliIo = { out: (text: string) => void; err: (text: string) => void; fetch?: typeof fetch };

/** Runs one command; returns the exit code (0 done, 1 failed, 2 usage). */
export async function runFigCli(argv: string[], config: FigCliConfig, io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      file: { type: "string" },
      "base-url": { type: "string" },
      token: { type: "string" },
      gateway: { type: "string" },
      namespace: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  const command = positionals.join(" ");
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (command === "routes check") return checkRoutes(text(values.file) ?? config.FIG_ROUTES_FILE, config, io);
  if (command === "export httproute")
    return exportHttpRoutes(
      {
        baseUrl: text(values["base-url"]) ?? config.FIG_GATEWAY_URL,
        token: text(values.token) ?? config.FIG_TOKEN,
        gateway: text(values.gateway),
        namespace: text(values.namespace),
      },
      config,
      io,
    );
  io.err(`unknown command "${command}"\n${USAGE}`);
  return 2;
}

function checkRoutes(file: string, config: FigCliConfig, io: CliIo): number {
  try {
    const { table, upstreams, file: parsed } = loadRouteFile({ file, env: config.env });
    const routes = table.routes.map(
      (r) => `${r.id} (${r.upstreams.map((u) => `${u.name} ${u.weight}%`).join(", ")})`,
    );
    io.out(
      `✓ ${file}: ${Object.keys(upstreams).length} upstreams, default ${table.defaultRoute.prefixes.join(", ")} → ` +
        `${table.defaultRoute.upstreams[0]?.name}, ${routes.length} routes: ${routes.join("; ") || "none"}` +
        `${parsed.queues?.length ? `, ${parsed.queues.length} queue(s)` : ""}`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof RouteFileError)) throw error;
    io.err(`✗ ${file}: ${error.issues.length} error(s)\n${formatIssues(error.issues)}`);
    return 1;
  }
}

type ExportOptions = { baseUrl: string; token?: string; gateway?: string; namespace?: string };

async function exportHttpRoutes(options: ExportOptions, config: FigCliConfig, io: CliIo): Promise<number> {
  const token =
    options.token ??
    (await mintDevToken({
      secret: resolveDevSecret(config.auth),
      sub: `${config.USER}:export`,
      // An operator of the control plane; `admin` too while the gateway's /_fig guard still asks for it.
      tenant: config.FIG_OPERATOR_TENANT,
      roles: ["operator", "admin"],
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      ttl: "5m",
    }));
  const url = new URL("/_fig/routes", options.baseUrl);
  let response: Response;
  try {
    response = await (io.fetch ?? fetch)(url, { headers: { authorization: `Bearer ${token}` } });
  } catch (error) {
    io.err(`✗ GET ${url}: ${(error as Error).message} (is the gateway running? --base-url)`);
    return 1;
  }
  if (!response.ok) {
    io.err(`✗ GET ${url} answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
    return 1;
  }
  const { routes } = (await response.json()) as { routes: LiveRouteView[] };
  io.out(httpRoutesYaml(routes, { gateway: options.gateway, namespace: options.namespace }).trimEnd());
  return 0;
}

if (import.meta.main) {
  try {
    const code = await runFigCli(Bun.argv.slice(2), loadFigCliConfig(), {
      out: (t) => console.log(t),
      err: (t) => console.error(t),
    });
    process.exit(code);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}
