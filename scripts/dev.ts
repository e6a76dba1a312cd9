/**
 * `bun run dev` — starts every service that declares `"fig": { "port": n }` in services/<name>/package.json,
 * each as `bun --watch services/<name>/src/main.ts` (reloads on change), with prefixed output,
 * readiness reporting and a clean Ctrl-C.
 *
 * Flags / env:
 *   --root <dir> | FIG_DEV_ROOT   workspace to run (default: this repository)
 *   NODE_ENV                       passed through; "development" unless set
 *   AUTH_DEV_SECRET                passed through; a dev default is supplied outside production
 *   DATABASE_URL                   passed through; unset means embedded PGlite under .data/
 *   NO_COLOR / FORCE_COLOR         colour control (colour is off when stdout is not a TTY)
 */
import { join, relative, resolve } from "node:path";
import { DEV_SECRET_DEFAULT } from "../packages/auth/src/config.ts";
import { type DevService, DiscoveryError, discoverServices } from "./dev-runner/discover.ts";
import { colorFor, makePrefix, pipeLines, style, useColor } from "./dev-runner/output.ts";
import { acquirePidFile, releasePidFile } from "./dev-runner/pidfile.ts";
import { portProblem } from "./dev-runner/ports.ts";

const READY_POLL_MS = 200;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
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

function describeDatabase(): string {
  const url = process.env.DATABASE_URL;
  if (!url) return "embedded Postgres (PGlite) under .data/";
  try {
    const u = new URL(url);
    return `DATABASE_URL ${u.protocol}//${u.host}${u.pathname}`; // never print credentials
  } catch {
    return "DATABASE_URL (set)";
  }
}

interface Child {
  svc: DevService;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  ready: boolean;
  exited: boolean;
  drained: Promise<void>;
}

async function main(): Promise<void> {
  const { root } = parseArgs(process.argv.slice(2));

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
  // Safety net for unexpected exits: never leave our own children or our pid file behind.
  process.on("exit", () => {
    for (const c of children) {
      if (!c.exited) {
        try {
          c.proc.kill("SIGKILL");
        } catch {}
      }
    }
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
  const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: nodeEnv, LOG_PRETTY: "true" };
  let defaultedSecret = false;
  if (!process.env.AUTH_DEV_SECRET?.trim() && !production) {
    env.AUTH_DEV_SECRET = DEV_SECRET_DEFAULT;
    defaultedSecret = true;
  }
  if (s.color && env.FORCE_COLOR === undefined) env.FORCE_COLOR = "1";
  delete env.FIG_DEV_ROOT;

  const relToCwd = relative(process.cwd(), root);
  const rel = relToCwd === "" ? "." : relToCwd.startsWith("..") ? root : relToCwd;
  out(
    `${s.bold("fig dev")} starting ${services.length} service${services.length === 1 ? "" : "s"} ` +
      `from ${rel} ${s.dim(`(NODE_ENV=${nodeEnv}, reload on change)`)}`,
  );
  out(`  database  ${describeDatabase()}`);
  out(
    `  auth      ${defaultedSecret ? "dev secret (AUTH_DEV_SECRET default)" : "AUTH_DEV_SECRET from environment"}`,
  );

  const width = Math.max(...services.map((svc) => svc.name.length));
  const startedAt = Date.now();
  let stopping: Promise<void> | null = null;
  let forced = false;

  const stop = (code: number): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
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
      return;
    }
    out();
    out(
      `${s.dim(`${signal}: stopping ${children.filter((c) => !c.exited).length} service(s)… (Ctrl-C again to force)`)}`,
    );
    void stop(0);
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGHUP", () => onSignal("SIGHUP"));

  let readyCount = 0;
  const onReady = (c: Child) => {
    c.ready = true;
    readyCount++;
    const base = `http://localhost:${c.svc.port}`;
    out(`${s.green("✓")} ${s.bold(c.svc.name)} ready  API ${base}/api  docs ${base}/docs`);
    if (readyCount === services.length) {
      const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
      out(
        s.dim(
          `all ${services.length} service(s) ready in ${secs} s · ${describeDatabase()} · Ctrl-C to stop`,
        ),
      );
      if (!production)
        out(`Get a dev token:  ${s.bold(TOKEN_HINT)}  ${s.dim("(send it as Authorization: Bearer …)")}`);
    }
  };

  const waitReady = async (c: Child) => {
    const url = `http://127.0.0.1:${c.svc.port}/ready`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let warned = false;
    while (!stopping && !c.exited) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.ok && !c.exited && !stopping) return onReady(c);
      } catch {}
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

  services.forEach((svc, index) => {
    const prefix = makePrefix(svc.name, width, colorFor(index), s);
    const proc = Bun.spawn([process.execPath, "--watch", svc.main], {
      cwd: root,
      env: { ...env, PORT: String(svc.port) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const drained = Promise.all([
      pipeLines(proc.stdout, prefix, (t) => process.stdout.write(t)),
      pipeLines(proc.stderr, prefix, (t) => process.stderr.write(t)),
    ]).then(() => {});
    const child: Child = { svc, proc, ready: false, exited: false, drained };
    children.push(child);

    void proc.exited.then(async () => {
      child.exited = true;
      if (stopping) return;
      await Promise.race([drained, sleep(500)]);
      if (stopping) return;
      const how = proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`;
      if (!child.ready) {
        err(`${s.red("✗")} ${s.bold(svc.name)} exited with ${how} before it was ready.`);
        err(
          `  Its output is above, prefixed "${svc.name}". Common causes: a missing or invalid setting ` +
            `(services/${svc.name}/src/config.ts), port ${svc.port} taken (\`lsof -i :${svc.port}\`), ` +
            "or Postgres/NATS unreachable.",
        );
      } else {
        err(`${s.red("✗")} ${s.bold(svc.name)} exited with ${how}; stopping the others.`);
      }
      await stop(1);
    });
    void waitReady(child);
  });
}

await main();
