import { join, relative } from "node:path";
import { withDevAuthDefaults } from "../../packages/auth/src/defaults.ts";
import { type DevService, DiscoveryError, discoverServices } from "./discover.ts";
import { acquirePidFile, releasePidFile } from "./pidfile.ts";
import { portProblem } from "./ports.ts";
import { err, fail, out, s } from "./terminal.ts";

/** The services to start, or the reason there are none. */
export function discoverOrFail(root: string): DevService[] {
  let services: DevService[];
  try {
    services = discoverServices(root);
  } catch (error) {
    if (error instanceof DiscoveryError) fail(error.message);
    throw error;
  }
  if (services.length === 0) {
    fail(`no service to start: no workspace package.json under ${root} has "fig": { "port": <number> }`);
  }
  return services;
}

/** One runner per workspace: takes .data/dev.pid, or stops and names the runner that holds it. */
export function lockRunner(root: string): string {
  const pidFile = join(root, ".data", "dev.pid");
  const lock = acquirePidFile(pidFile);
  if (!lock.ok) {
    fail(
      `bun run dev is already running (pid ${lock.pid}).\n` +
        `  Stop it with Ctrl-C in its terminal (or \`kill ${lock.pid}\`), then try again.`,
    );
  }
  return pidFile;
}

/** Stops before starting anything when a service's port is taken, naming each one. */
export async function refuseTakenPorts(services: DevService[], pidFile: string): Promise<void> {
  const problems = await Promise.all(
    services.map(async (svc) => ({ svc, problem: await portProblem(svc.port) })),
  );
  const taken = problems.filter((p) => p.problem !== null);
  if (taken.length === 0) return;
  for (const { svc, problem } of taken) {
    err(`${s.red("✗")} ${s.bold(svc.name)} cannot start: port ${svc.port} ${problem}.`);
    if (problem === "in use") {
      err(`  Is \`bun run dev\` already running? Find what holds it with \`lsof -i :${svc.port}\`.`);
    }
  }
  releasePidFile(pidFile);
  process.exit(1);
}

export type ServiceEnvironment = {
  /** What every service is started with (PORT and DATABASE_URL are added per service). */
  env: Record<string, string | undefined>;
  nodeEnv: string;
  production: boolean;
  /** true when AUTH_DEV_SECRET was not set and the dev default was supplied. */
  defaultedSecret: boolean;
};

/** The services' environment: this one, development defaults, and none of the runner's own settings. */
export function serviceEnvironment(services: DevService[]): ServiceEnvironment {
  const nodeEnv = process.env.NODE_ENV || "development";
  const production = nodeEnv === "production";
  // The same dev default secret the scripts (seed, token, events…) fall back to in a plain terminal.
  const { env, defaulted } = withDevAuthDefaults<Record<string, string | undefined>>({
    ...process.env,
    NODE_ENV: nodeEnv,
    LOG_PRETTY: "true",
  });
  if (s.color && env.FORCE_COLOR === undefined) env.FORCE_COLOR = "1";
  // Identity's EdDSA tokens are accepted beside dev tokens: every service reads its key set on its dev port.
  const identity = services.find((svc) => svc.name === "identity");
  if (!production && identity && !env.AUTH_JWKS_URL)
    env.AUTH_JWKS_URL = `http://127.0.0.1:${identity.port}/.well-known/jwks.json`;
  delete env.FIG_DEV_ROOT;
  delete env.FIG_DEV_NATS_PORT;
  delete env.FIG_DEV_RESTART;
  return { env, nodeEnv, production, defaultedSecret: defaulted };
}

/** The first line: how many services, from where, in which mode. */
export function printStarting(root: string, services: DevService[], nodeEnv: string): void {
  const relToCwd = relative(process.cwd(), root);
  const rel = relToCwd === "" ? "." : relToCwd.startsWith("..") ? root : relToCwd;
  out(
    `${s.bold("fig dev")} starting ${services.length} service${services.length === 1 ? "" : "s"} ` +
      `from ${rel} ${s.dim(`(NODE_ENV=${nodeEnv}, reload on change)`)}`,
  );
}

/** Where the services' auth secret comes from. */
export function printAuth(defaultedSecret: boolean): void {
  out(
    `  auth      ${defaultedSecret ? "dev secret (AUTH_DEV_SECRET default)" : "AUTH_DEV_SECRET from environment"}`,
  );
}
