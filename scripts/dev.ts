/**
 * `bun run dev` — starts every service that declares `"fig": { "port": n }` in services/<name>/package.json,
 * each as `bun --watch services/<name>/src/main.ts` (reloads on change), with prefixed output,
 * readiness reporting and a clean Ctrl-C.
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
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { withDevAuthDefaults } from "../packages/auth/src/defaults.ts";
import { mintDevToken } from "../packages/auth/src/mint.ts";
import { removeDevDatabases, writeDevDatabases } from "../packages/db/src/dev-databases.ts";
import {
  describePostgresUrl,
  prepareServiceDatabases,
  type ServiceDatabase,
  serveEmbeddedDatabases,
  serviceDatabaseName,
} from "./dev-runner/databases.ts";
import { type DevService, DiscoveryError, discoverServices } from "./dev-runner/discover.ts";
import {
  answersNats,
  describeNatsUrl,
  findNatsServer,
  NATS_HOST,
  NATS_INSTALL_HINT,
  natsPort,
} from "./dev-runner/nats.ts";
import { colorFor, makePrefix, pipeLines, style, useColor } from "./dev-runner/output.ts";
import { acquirePidFile, releasePidFile } from "./dev-runner/pidfile.ts";
import { portProblem } from "./dev-runner/ports.ts";
import { notReadyDetail } from "./dev-runner/ready.ts";
import {
  createLineTail,
  createRestarts,
  describeExit,
  formatDelay,
  type LineTail,
  parseRestartPolicy,
  type Restarts,
} from "./dev-runner/supervise.ts";

const READY_POLL_MS = 100; // the ready line is what a developer waits for; a poll before it listens is a refused connect
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const NATS_START_TIMEOUT_MS = 15_000;
const NATS_STOP_TIMEOUT_MS = 10_000;
const NATS_DATA_DIR = ".data/nats"; // relative to the workspace root, nats-server's cwd
const TOKEN_HINT = "bun run token --sub you --tenant acme --roles editor";

const s = style(useColor());
const out = (line = "") => process.stdout.write(`${line}\n`);
const err = (line = "") => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function usage(): string {
  return [
    "usage: bun run dev [--root <dir>]",
    "",
    'Starts every services/<name> whose package.json has "fig": { "port": <n> } with bun --watch.',
    "  --root <dir>   workspace root to run (or FIG_DEV_ROOT); default: this repository",
  ].join("\n");
}

function parseArgs(argv: string[]): { root: string } {
  let root = process.env.FIG_DEV_ROOT || resolve(import.meta.dir, "..");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      out(usage());
      process.exit(0);
    } else if (arg === "--root") {
      const value = argv[++i];
      if (!value) fail("--root needs a directory");
      root = value;
    } else if (arg.startsWith("--root=")) {
      root = arg.slice("--root=".length);
    } else {
      fail(`unknown argument ${JSON.stringify(arg)}\n\n${usage()}`);
    }
  }
  return { root: resolve(root) };
}

function fail(message: string): never {
  err(`${s.red("✗")} ${message}`);
  process.exit(1);
}

/** One line for the summary: where the services' databases are. */
function describeDatabases(databases: ServiceDatabase[] | null): string {
  if (!databases) return "embedded Postgres (PGlite) under .data/";
  const server = databases[0] ? new URL(databases[0].url).host : "?";
  return `Postgres at ${server}, a database per service`;
}

/** DATABASE_URL set: each service's own database on that server (created if missing); null: embedded. */
async function planDatabases(services: DevService[]): Promise<ServiceDatabase[] | null> {
  const url = process.env.DATABASE_URL?.trim();
  if (!url) return null;
  try {
    return await prepareServiceDatabases(
      url,
      services.map((svc) => svc.name),
    );
  } catch (error) {
    fail(
      `DATABASE_URL ${describePostgresUrl(url)}: cannot prepare a database per service: ${(error as Error).message}\n` +
        "  The role needs CREATEDB (or create the databases yourself: " +
        `${services.map((svc) => serviceDatabaseName(svc.name)).join(", ")}); unset DATABASE_URL for embedded PGlite.`,
    );
  }
}

/** One service; `proc`, `ready`, `exited`, `drained` and the tails are those of its current run. */
interface Child {
  svc: DevService;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  ready: boolean;
  exited: boolean;
  drained: Promise<void>;
  restarts: Restarts;
  stderrTail: LineTail;
  stdoutTail: LineTail;
}

/** The nats-server this runner started (never one it found running). */
interface NatsChild {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  exited: boolean;
  drained: Promise<void>;
}

/** Where the services' NATS comes from; `missing` means none: they start anyway, not ready. */
type NatsPlan =
  | { kind: "env"; url: string }
  | { kind: "running"; url: string }
  | { kind: "spawn"; url: string; bin: string }
  | { kind: "missing"; url: string }
  | { kind: "blocked"; url: string; problem: string };

async function planNats(port: number): Promise<NatsPlan> {
  const envUrl = process.env.NATS_URL?.trim();
  if (envUrl) return { kind: "env", url: envUrl };
  const url = `nats://${NATS_HOST}:${port}`;
  if (await answersNats(port)) return { kind: "running", url };
  const problem = await portProblem(port);
  if (problem !== null) return { kind: "blocked", url, problem };
  const bin = findNatsServer();
  return bin ? { kind: "spawn", url, bin } : { kind: "missing", url };
}

async function main(): Promise<void> {
  const { root } = parseArgs(process.argv.slice(2));
  const natsPortOrError = natsPort(process.env.FIG_DEV_NATS_PORT);
  if (typeof natsPortOrError === "string") fail(natsPortOrError);
  const localNatsPort = natsPortOrError;
  const restartPolicy = parseRestartPolicy(process.env.FIG_DEV_RESTART);
  if (typeof restartPolicy === "string") fail(restartPolicy);

  let services: DevService[];
  try {
    services = discoverServices(root);
  } catch (error) {
    if (error instanceof DiscoveryError) fail(error.message);
    throw error;
  }
  if (services.length === 0) {
    fail(`no service to start: no services/*/package.json under ${root} has "fig": { "port": <number> }`);
  }

  const pidFile = join(root, ".data", "dev.pid");
  const lock = acquirePidFile(pidFile);
  if (!lock.ok) {
    fail(
      `bun run dev is already running (pid ${lock.pid}).\n` +
        `  Stop it with Ctrl-C in its terminal (or \`kill ${lock.pid}\`), then try again.`,
    );
  }
  const children: Child[] = [];
  let nats: NatsChild | null = null;
  // Safety net for unexpected exits: never leave our own children or our pid file behind.
  process.on("exit", () => {
    for (const c of children) {
      if (!c.exited) {
        try {
          c.proc.kill("SIGKILL");
        } catch {}
      }
    }
    if (nats && !nats.exited) {
      try {
        nats.proc.kill("SIGTERM"); // it shuts down cleanly on its own; we cannot wait here
      } catch {}
    }
    removeDevDatabases(join(root, ".data"), process.pid);
    releasePidFile(pidFile);
  });

  const problems = await Promise.all(
    services.map(async (svc) => ({ svc, problem: await portProblem(svc.port) })),
  );
  const taken = problems.filter((p) => p.problem !== null);
  if (taken.length > 0) {
    for (const { svc, problem } of taken) {
      err(`${s.red("✗")} ${s.bold(svc.name)} cannot start: port ${svc.port} ${problem}.`);
      if (problem === "in use") {
        err(`  Is \`bun run dev\` already running? Find what holds it with \`lsof -i :${svc.port}\`.`);
      }
    }
    releasePidFile(pidFile);
    process.exit(1);
  }

  const nodeEnv = process.env.NODE_ENV || "development";
  const production = nodeEnv === "production";
  // The same dev default secret the scripts (seed, token, events…) fall back to in a plain terminal.
  const { env, defaulted: defaultedSecret } = withDevAuthDefaults<Record<string, string | undefined>>({
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

  const plan = await planNats(localNatsPort);
  env.NATS_URL = plan.url;

  const relToCwd = relative(process.cwd(), root);
  const rel = relToCwd === "" ? "." : relToCwd.startsWith("..") ? root : relToCwd;
  out(
    `${s.bold("fig dev")} starting ${services.length} service${services.length === 1 ? "" : "s"} ` +
      `from ${rel} ${s.dim(`(NODE_ENV=${nodeEnv}, reload on change)`)}`,
  );
  // Only services with migrations have a database (the gateway has none).
  const withDatabase = services.filter((svc) => existsSync(join(svc.dir, "drizzle")));
  const databases = await planDatabases(withDatabase);
  // Embedded: this runner serves each PGlite database on a port, so services and tools share one code path.
  const embedded = databases
    ? null
    : await serveEmbeddedDatabases(root, withDatabase, { templateDir: process.env.FIG_PGLITE_TEMPLATE_DIR });
  const databaseUrls = new Map<string, string>(
    [...(databases ?? embedded?.databases ?? [])].map((db) => [db.service, db.url]),
  );
  if (embedded) out(`  database  ${describeDatabases(null)}, each served over the Postgres wire protocol:`);
  if (embedded) {
    const t0 = Date.now();
    void Promise.all(embedded.databases.map((db) => db.ready)).then(
      () => out(s.dim(`  (embedded databases open after ${((Date.now() - t0) / 1000).toFixed(1)} s)`)),
      (error) => err(`${s.red("✗")} an embedded database did not open: ${(error as Error).message}`),
    );
  }
  for (const db of embedded?.databases ?? []) {
    const name = db.service.padEnd(Math.max(...services.map((svc) => svc.name.length)));
    out(
      `            ${name} → ${db.url} ${s.dim(db.wantedPort ? `(${db.wantedPort} was taken)` : `(${db.path})`)}`,
    );
  }
  // migrate-data (and anyone else) finds the URLs here with nothing set.
  writeDevDatabases(join(root, ".data"), {
    pid: process.pid,
    kind: embedded ? "embedded" : "server",
    databases: Object.fromEntries(databaseUrls),
  });
  for (const [i, db] of (databases ?? []).entries()) {
    const name = db.service.padEnd(Math.max(...services.map((svc) => svc.name.length)));
    out(
      `  ${i === 0 ? "database " : "         "} ${name} → ${describePostgresUrl(db.url)} ${s.dim(db.created ? "(created)" : "(exists)")}`,
    );
  }
  out(
    `  auth      ${defaultedSecret ? "dev secret (AUTH_DEV_SECRET default)" : "AUTH_DEV_SECRET from environment"}`,
  );
  const local = `${NATS_HOST}:${localNatsPort}`;
  switch (plan.kind) {
    case "env":
      out(`  nats      ${describeNatsUrl(plan.url)}`);
      break;
    case "running":
      out(`  nats      reusing the NATS server already running on ${local}`);
      break;
    case "spawn":
      out(`  nats      starting ${plan.bin} -js on ${local} (data in ${NATS_DATA_DIR})`);
      break;
    case "blocked":
      err(
        `${s.red("✗")} NATS: port ${localNatsPort} ${plan.problem}, but what holds it does not answer as NATS.\n` +
          `  Find it with \`lsof -i :${localNatsPort}\`, or set NATS_URL to a NATS server ` +
          "(or FIG_DEV_NATS_PORT to a free port).",
      );
      releasePidFile(pidFile);
      process.exit(1);
      break;
    case "missing":
      out(`  nats      none (nothing answers on ${local}; nats-server not found)`);
      err(`${s.yellow("!")} NATS: nothing answers on ${local} and nats-server is not installed.`);
      err(`  ${NATS_INSTALL_HINT.replace(/\n/g, "\n  ")}`);
      err(
        "  Starting the services without NATS: their writes wait in the outbox, and /ready stays 503 " +
          "until NATS is reachable.",
      );
      break;
  }

  const natsMissing = plan.kind === "missing";
  const width = Math.max(
    ...services.map((svc) => svc.name.length),
    plan.kind === "spawn" ? "nats".length : 0,
  );
  const startedAt = Date.now();
  let stopping: Promise<void> | null = null;
  let forced = false;

  const stopNats = async (): Promise<void> => {
    const n = nats;
    if (!n) return;
    if (!n.exited) {
      try {
        n.proc.kill("SIGTERM");
      } catch {}
      const timedOut = await Promise.race([
        n.proc.exited.then(() => false),
        sleep(NATS_STOP_TIMEOUT_MS).then(() => true),
      ]);
      if (timedOut) {
        err(
          `${s.yellow("!")} nats-server did not stop within ${NATS_STOP_TIMEOUT_MS / 1000} s; killing pid ${n.proc.pid}`,
        );
        try {
          n.proc.kill("SIGKILL");
        } catch {}
        await Promise.race([n.proc.exited, sleep(2000)]);
      }
    }
    await Promise.race([n.drained, sleep(1000)]);
  };

  const stop = (code: number): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      for (const c of children) c.restarts.cancel(); // no restart after Ctrl-C, even one waiting out its backoff
      const live = children.filter((c) => !c.exited);
      for (const c of live) {
        try {
          c.proc.kill("SIGTERM");
        } catch {}
      }
      const allExited = Promise.all(live.map((c) => c.proc.exited));
      const timedOut = await Promise.race([
        allExited.then(() => false),
        sleep(STOP_TIMEOUT_MS).then(() => true),
      ]);
      if (timedOut && !forced) {
        for (const c of children.filter((x) => !x.exited)) {
          err(
            `${s.yellow("!")} ${c.svc.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing pid ${c.proc.pid}`,
          );
          try {
            c.proc.kill("SIGKILL");
          } catch {}
        }
        await Promise.race([allExited, sleep(2000)]);
      }
      await Promise.race([Promise.all(children.map((c) => c.drained)), sleep(1000)]);
      await embedded?.close();
      // NATS goes last, so the services can flush and close their connections first.
      await stopNats();
      removeDevDatabases(join(root, ".data"), process.pid);
      releasePidFile(pidFile);
      process.exit(code);
    })();
    return stopping;
  };

  const onSignal = (signal: string) => {
    if (stopping) {
      // Second Ctrl-C: don't wait any longer.
      forced = true;
      for (const c of children.filter((x) => !x.exited)) {
        try {
          c.proc.kill("SIGKILL");
        } catch {}
      }
      if (nats && !nats.exited) {
        try {
          nats.proc.kill("SIGKILL");
        } catch {}
      }
      return;
    }
    const what = `${children.filter((c) => !c.exited).length} service(s)${nats && !nats.exited ? " and nats-server" : ""}`;
    out();
    out(`${s.dim(`${signal}: stopping ${what}… (Ctrl-C again to force)`)}`);
    void stop(0);
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGHUP", () => onSignal("SIGHUP"));

  if (plan.kind === "spawn") {
    const prefix = makePrefix("nats", width, colorFor(services.length), s);
    let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
    try {
      proc = Bun.spawn(
        [plan.bin, "-js", "-a", NATS_HOST, "-p", String(localNatsPort), "-sd", NATS_DATA_DIR],
        {
          cwd: root,
          env: process.env,
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          // Own process group: only this runner signals it, after the services have stopped.
          detached: true,
        },
      );
    } catch (error) {
      err(`${s.red("✗")} cannot start ${plan.bin}: ${(error as Error).message}`);
      err(`  ${NATS_INSTALL_HINT.replace(/\n/g, "\n  ")}`);
      return stop(1);
    }
    const drained = Promise.all([
      pipeLines(proc.stdout, prefix, (t) => process.stdout.write(t)),
      pipeLines(proc.stderr, prefix, (t) => process.stderr.write(t)),
    ]).then(() => {});
    const child: NatsChild = { proc, exited: false, drained };
    nats = child;
    let natsUp = false;
    void proc.exited.then(async () => {
      child.exited = true;
      if (stopping || !natsUp) return;
      await Promise.race([drained, sleep(500)]);
      if (stopping) return;
      const how = proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`;
      err(
        `${s.yellow("!")} nats-server exited with ${how}; the services keep running, ` +
          "but /ready reports NATS failing until it is back.",
      );
    });

    const deadline = Date.now() + NATS_START_TIMEOUT_MS;
    while (!stopping && !child.exited && Date.now() < deadline) {
      if (await answersNats(localNatsPort, NATS_HOST, 500)) {
        natsUp = true;
        break;
      }
      await sleep(100);
    }
    if (stopping) return;
    if (!natsUp) {
      await Promise.race([drained, sleep(child.exited ? 500 : 0)]);
      const why = child.exited
        ? `exited with ${proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`}`
        : `did not answer on ${local} within ${NATS_START_TIMEOUT_MS / 1000} s`;
      err(`${s.red("✗")} nats-server ${why}; its output is above, prefixed "nats".`);
      err("  Set NATS_URL to use another NATS server, or FIG_DEV_NATS_PORT to use another port.");
      return stop(1);
    }
    out(
      `${s.green("✓")} ${s.bold("nats")} ready  ${plan.url}  ${s.dim(`(pid ${proc.pid}, stopped with dev)`)}`,
    );
  }

  const natsSummary =
    plan.kind === "env"
      ? describeNatsUrl(plan.url)
      : plan.kind === "running"
        ? `NATS on ${local} (already running)`
        : `nats-server on ${local}`;
  let readyCount = 0;
  const reportReady = (c: Child, notReady: string | null) => {
    c.ready = true;
    if (c.restarts.count > 0) {
      // Back after a restart: one line; the summary below is for the first start only.
      const back =
        notReady === null
          ? `${s.green("✓")} ${s.bold(c.svc.name)} ready again`
          : `${s.yellow("!")} ${s.bold(c.svc.name)} up again (not ready: ${notReady})`;
      out(`${back} ${s.dim(`(restart ${c.restarts.count}, pid ${c.proc.pid})`)}`);
      return;
    }
    const base = `http://localhost:${c.svc.port}`;
    const urls = `API ${base}/api  docs ${base}/docs`;
    if (notReady !== null) {
      out(`${s.yellow("!")} ${s.bold(c.svc.name)} up (not ready: ${notReady})  ${urls}`);
    } else {
      out(`${s.green("✓")} ${s.bold(c.svc.name)} ready  ${urls}`);
    }
    readyCount++;
    if (readyCount === services.length) {
      const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
      const status = natsMissing ? "up" : "ready";
      const natsNote = natsMissing
        ? `no NATS: /ready stays 503 until NATS is reachable on ${local}`
        : natsSummary;
      out(
        s.dim(
          `all ${services.length} service(s) ${status} in ${secs} s · ${describeDatabases(databases)} · ${natsNote} · Ctrl-C to stop`,
        ),
      );
      if (!production)
        out(`Get a dev token:  ${s.bold(TOKEN_HINT)}  ${s.dim("(send it as Authorization: Bearer …)")}`);
      const gateway = services.find((svc) => svc.name === "gateway");
      if (gateway) {
        out(
          `Open ${s.bold(`http://localhost:${gateway.port}/docs`)}  ${s.dim("— the one URL: the gateway routes /api to every service")}`,
        );
        // The console's token line: a dev operator's token (role operator in the operator tenant: the console
        // refuses a tenant's admin) to paste into the page (never in a URL).
        if (!production && env.AUTH_DEV_SECRET)
          void mintDevToken({
            secret: env.AUTH_DEV_SECRET,
            sub: "dev-operator",
            tenant: env.FIG_OPERATOR_TENANT ?? "platform",
            roles: ["operator"],
            ttl: "12h",
            issuer: env.AUTH_ISSUER,
            audience: env.AUTH_AUDIENCE,
          })
            .then((token) =>
              out(
                `Console ${s.bold(`http://localhost:${gateway.port}/_fig/console`)}  ${s.dim("paste this dev operator token (12 h):")} ${token}`,
              ),
            )
            .catch(() => {});
      }
    }
  };

  /** GET url: status and body, or null when nothing answered. */
  const probe = async (url: string): Promise<{ status: number; body: string } | null> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: await res.text() };
    } catch {
      return null;
    }
  };

  const waitReady = async (c: Child) => {
    const base = `http://127.0.0.1:${c.svc.port}`;
    const url = `${base}/ready`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let warned = false;
    // Polls for this run only: after a crash and restart, the next run has its own poll.
    const proc = c.proc;
    const gone = () => stopping !== null || c.exited || c.proc !== proc;
    while (!gone()) {
      const ready = await probe(url);
      if (gone()) return;
      if (ready && ready.status >= 200 && ready.status < 300) return reportReady(c, null);
      if (natsMissing && ready) {
        // Without NATS /ready cannot pass: alive is as good as it gets. Stop polling (each 503 logs an error).
        const health = await probe(`${base}/health`);
        if (gone()) return;
        if (health && health.status >= 200 && health.status < 300) {
          return reportReady(c, notReadyDetail(ready.status, ready.body));
        }
      }
      if (!warned && Date.now() > deadline) {
        warned = true;
        err(
          `${s.yellow("!")} ${c.svc.name} is not ready after ${READY_TIMEOUT_MS / 1000} s (GET ${url}); ` +
            "still watching — check its output above.",
        );
      }
      await sleep(warned ? 1000 : READY_POLL_MS);
    }
  };

  /** A service that stopped on its own after it was up: restart it after a backoff, or leave it stopped. */
  const restartAfterCrash = (c: Child, index: number, how: string) => {
    const decision = c.restarts.crashed();
    if (decision.action === "restart") {
      err(
        `${s.yellow("↻")} ${s.bold(c.svc.name)} exited with ${how}; ` +
          `restarting in ${formatDelay(decision.delayMs)} (restart ${decision.restart})`,
      );
      c.restarts.schedule(decision.delayMs, () => {
        if (!stopping) launch(c.svc, index, c);
      });
      return;
    }
    err(
      `${s.red("✗")} ${s.bold(c.svc.name)} exited with ${how}: ${decision.crashes} crashes within ` +
        `${formatDelay(restartPolicy.windowMs)}, so it is left stopped; the others keep running ` +
        "(restart `bun run dev` to start it again).",
    );
    // Its output has scrolled by under the others': show why it died once more.
    const [label, lines] =
      c.stderrTail.lines().length > 0
        ? ["error lines", c.stderrTail.lines()]
        : ["lines of output", c.stdoutTail.lines()];
    if (lines.length > 0) {
      err(`  Its last ${label}:`);
      for (const line of lines) process.stderr.write(`  ${line}`);
    }
  };

  /** Starts svc; `previous` is the same service restarted after a crash. */
  const launch = (svc: DevService, index: number, previous?: Child) => {
    const prefix = makePrefix(svc.name, width, colorFor(index), s);
    const proc = Bun.spawn([process.execPath, "--watch", svc.main], {
      cwd: root,
      env: {
        ...env,
        PORT: String(svc.port),
        ...(databaseUrls.has(svc.name) ? { DATABASE_URL: databaseUrls.get(svc.name) } : {}),
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // Own process group: only this runner signals it. A signal sent to the whole group (terminal Ctrl-C,
      // `timeout`) plus our SIGTERM would otherwise hit the service twice, and the second kills it mid-shutdown.
      detached: true,
    });
    const child: Child = previous ?? {
      svc,
      proc,
      ready: false,
      exited: false,
      drained: Promise.resolve(),
      restarts: createRestarts(restartPolicy),
      stderrTail: createLineTail(),
      stdoutTail: createLineTail(),
    };
    if (!previous) children.push(child);
    Object.assign(child, { proc, ready: false, exited: false });
    child.stdoutTail.clear();
    child.stderrTail.clear();
    const drained = Promise.all([
      pipeLines(proc.stdout, prefix, (t) => {
        child.stdoutTail.push(t);
        process.stdout.write(t);
      }),
      pipeLines(proc.stderr, prefix, (t) => {
        child.stderrTail.push(t);
        process.stderr.write(t);
      }),
    ]).then(() => {});
    child.drained = drained;

    void proc.exited.then(async () => {
      child.exited = true;
      if (stopping) return;
      await Promise.race([drained, sleep(500)]);
      if (stopping) return;
      const how = describeExit(proc);
      // Restarting cannot fix what stops a first start (bad config, port taken): only a service that was up is.
      if (child.ready || child.restarts.count > 0) return restartAfterCrash(child, index, how);
      err(`${s.red("✗")} ${s.bold(svc.name)} exited with ${how} before it was ready.`);
      err(
        `  Its output is above, prefixed "${svc.name}". Common causes: a missing or invalid setting ` +
          `(services/${svc.name}/src/config.ts), port ${svc.port} taken (\`lsof -i :${svc.port}\`), ` +
          "or Postgres/NATS unreachable.",
      );
      await stop(1);
    });
    void waitReady(child);
  };
  for (const [index, svc] of services.entries()) launch(svc, index);
}

await main();
