import { join } from "node:path";
import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { natsConfigShape } from "@fig/events";
import { type LoadedRouteFile, loadRouteFile, RouteFileError } from "@fig/route-file";
import { baseConfigShape, ConfigError, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const positiveInt = () => z.coerce.number().int().positive();

/** The repository's fig.yaml: three levels up from src/ (and from dist/ in the image, where it is copied too). */
export const DEFAULT_ROUTES_FILE = join(import.meta.dir, "..", "..", "..", "fig.yaml");

/** The operator tenant when FIG_OPERATOR_TENANT is not set (`bun run token --tenant platform --roles operator`). */
export const DEFAULT_OPERATOR_TENANT = "platform";

const GatewayEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  ...natsConfigShape,
  /**
   * The route file: the monolith, every carved-out route and its policies. The upstream URLs, rate limits and
   * timeouts it reads from variables it names (MONOLITH_URL, RATE_LIMIT_PER_MINUTE, … in the repo's fig.yaml).
   */
  FIG_ROUTES_FILE: z.string().default(DEFAULT_ROUTES_FILE),
  /**
   * The tenant whose tokens with role `operator` may use the control plane (/_fig/*, the console). Keep it a
   * tenant no customer is given: an admin of a customer's tenant is never an operator.
   */
  FIG_OPERATOR_TENANT: z.string().min(1).default(DEFAULT_OPERATOR_TENANT),
  /** The largest request body passed through (streamed, never buffered); upstreams apply their own limits. */
  MAX_REQUEST_BODY_BYTES: positiveInt().default(1024 * 1024 * 1024),
  /**
   * Gateway processes on this host, all listening on PORT (SO_REUSEPORT, Linux only): the first starts the
   * others and stops them with itself. Each enforces 1/N of every rate limit (docs/gateway.md). 1 in dev.
   */
  FIG_GATEWAY_PROCESSES: positiveInt().max(64).default(1),
  /** Which of those processes this is: set by the first for the ones it starts (1 … N-1), never by hand. */
  FIG_GATEWAY_PROCESS_INDEX: z.coerce.number().int().min(0).default(0),
});

export type Config = z.infer<typeof GatewayEnv> & { auth: AuthConfig; routes: LoadedRouteFile };

/** The only place the gateway reads the environment. Every bad variable and route-file field is reported at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = withoutEmptyValues(env);
  const { service, auth, routes } = combineConfig({
    service: () => parseConfig(GatewayEnv, cleaned),
    auth: () => readServiceAuthConfig(cleaned),
    routes: () => readRouteFile(cleaned.FIG_ROUTES_FILE ?? DEFAULT_ROUTES_FILE, cleaned),
  });
  // Elsewhere Bun ignores reusePort: the other processes could not listen and would be restarted forever.
  if (service.FIG_GATEWAY_PROCESSES > 1 && process.platform !== "linux")
    throw new ConfigError([
      `FIG_GATEWAY_PROCESSES: ${service.FIG_GATEWAY_PROCESSES} processes share a port through SO_REUSEPORT, on Linux only; use 1 on ${process.platform}`,
    ]);
  return { ...service, auth, routes };
}

/** The route file with its `{ env: NAME }` references read from this environment; its mistakes as config problems. */
function readRouteFile(file: string, env: Record<string, string>): LoadedRouteFile {
  try {
    return loadRouteFile({ file, env });
  } catch (error) {
    if (!(error instanceof RouteFileError)) throw error;
    throw new ConfigError(
      error.issues.map((i) => `${file}: ${i.path}: ${i.reason}${i.line ? ` (line ${i.line})` : ""}`),
    );
  }
}

/** The environment gateway processes 1 … N-1 start with: this one's, so every process reads the same config. */
export const processEnvironment = (): Record<string, string | undefined> => ({ ...process.env });
