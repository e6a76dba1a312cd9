/**
 * `bun run dev` — starts every service that declares `"fig": { "port": n }` in its package.json (any workspace
 * the root package.json's globs find; named after its folder), each as `bun --watch <its folder>/src/main.ts`
 * (reloads on change), with prefixed output, readiness reporting and a clean Ctrl-C. The steps live in
 * dev-runner/.
 *
 * Flags / env:
 *   --root <dir> | FIG_DEV_ROOT   workspace to run (default: this repository)
 *   NODE_ENV                       passed through; "development" unless set
 *   AUTH_DEV_SECRET                passed through; a dev default is supplied outside production
 *   DATABASE_URL                   a Postgres server: each service gets its own database there, named after it
 *                                  (reference-data → reference_data, as in compose.yaml), created if missing;
 *                                  unset means embedded PGlite per service under .data/, which this runner
 *                                  serves on 127.0.0.1:54xx (monolith 8081 → 5481) over the Postgres wire protocol;
 *                                  either way the URLs are written to .data/dev-databases.json for migrate-data
 *   FIG_PGLITE_TEMPLATE_DIR        where the template cluster new embedded databases copy lives (~/.cache/fig)
 *   NATS_URL                       passed through; unset means the NATS server already answering on
 *                                  127.0.0.1:4222, else `nats-server -js` from PATH (data in .data/nats),
 *                                  else a warning (services start; /ready stays 503 until NATS is reachable)
 *   FIG_DEV_NATS_PORT              port for that local NATS (default 4222)
 *   FIG_DEV_RESTART                how a service that stops on its own is restarted (default
 *                                  backoff=500ms..8s,limit=5/60s: 0.5 s, 1 s, 2 s… before each restart; 5 crashes
 *                                  within 60 s and it is left stopped). A service that exits before it was ever
 *                                  ready (bad config, port taken) is not restarted: the runner stops, as at start.
 *   NO_COLOR / FORCE_COLOR         colour control (colour is off when stdout is not a TTY)
 */
import { resolve } from "node:path";
import { parseArgs, readSettings } from "./dev-runner/args.ts";
import { describeDatabases, openDatabases } from "./dev-runner/database-plan.ts";
import { startNatsServer } from "./dev-runner/nats-child.ts";
import { describeNatsPlan, planNats, printNatsPlan } from "./dev-runner/nats-plan.ts";
import { trackProcesses } from "./dev-runner/processes.ts";
import { launchServices } from "./dev-runner/services.ts";
import {
  discoverOrFail,
  lockRunner,
  printAuth,
  printStarting,
  refuseTakenPorts,
  serviceEnvironment,
} from "./dev-runner/startup.ts";
import { stopAll, stopOnSignals } from "./dev-runner/stop.ts";
import { printAllReady } from "./dev-runner/summary.ts";

async function main(): Promise<void> {
  const { root } = parseArgs(process.argv.slice(2), resolve(import.meta.dir, ".."));
  const { localNatsPort, restartPolicy } = readSettings();
  const services = discoverOrFail(root);
  const pidFile = lockRunner(root);
  const processes = trackProcesses(root, pidFile);
  await refuseTakenPorts(services, pidFile);

  const { env, nodeEnv, production, defaultedSecret } = serviceEnvironment(services);
  const nats = await planNats(localNatsPort);
  env.NATS_URL = nats.url;
  printStarting(root, services, nodeEnv);
  const databases = await openDatabases(root, services);
  printAuth(defaultedSecret);
  printNatsPlan(nats, localNatsPort, pidFile);

  const startedAt = Date.now();
  const stopOptions = { root, pidFile, closeDatabases: async () => await databases.embedded?.close() };
  const stop = (code: number) => stopAll(processes, stopOptions, code);
  stopOnSignals(processes, stopOptions);
  const width = Math.max(
    ...services.map((svc) => svc.name.length),
    nats.kind === "spawn" ? "nats".length : 0,
  );
  if (nats.kind === "spawn") {
    const start = {
      root,
      bin: nats.bin,
      url: nats.url,
      port: localNatsPort,
      width,
      colorIndex: services.length,
    };
    if (!(await startNatsServer(processes, { ...start, stop }))) return;
  }

  launchServices(processes, {
    root,
    services,
    env,
    databaseUrls: databases.urls,
    restartPolicy,
    natsMissing: nats.kind === "missing",
    width,
    stop,
    onAllUp: () =>
      printAllReady({
        services,
        env,
        production,
        startedAt,
        status: nats.kind === "missing" ? "up" : "ready",
        databases: describeDatabases(databases.databases),
        nats: describeNatsPlan(nats, localNatsPort),
      }),
  });
}

await main();
