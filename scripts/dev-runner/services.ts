import { relative } from "node:path";
import type { DevService } from "./discover.ts";
import { colorFor, makePrefix, pipeLines } from "./output.ts";
import type { Child, Processes } from "./processes.ts";
import { notReadyDetail } from "./ready.ts";
import {
  createLineTail,
  createRestarts,
  describeExit,
  formatDelay,
  type RestartPolicy,
} from "./supervise.ts";
import { err, out, s, sleep } from "./terminal.ts";

const READY_POLL_MS = 100; // the ready line is what a developer waits for; a poll before it listens is a refused connect
const READY_TIMEOUT_MS = 60_000;

export type ServicesOptions = {
  root: string;
  services: DevService[];
  env: Record<string, string | undefined>;
  /** Service name → its DATABASE_URL. */
  databaseUrls: Map<string, string>;
  restartPolicy: RestartPolicy;
  /** Without NATS /ready cannot pass: a service that is alive counts as up. */
  natsMissing: boolean;
  /** Width of the name column in the prefixes. */
  width: number;
  /** Called once, when every service has answered for the first time. */
  onAllUp: () => void;
  stop: (code: number) => Promise<void>;
};

/** GET url: status and body, or null when nothing answered. */
async function probe(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

/**
 * Starts every service with `bun --watch`, prefixes its output, reports it ready, and restarts one that stops
 * on its own after it was up (backoff, then left stopped); one that stops before it was ever ready stops all.
 */
export function launchServices(processes: Processes, o: ServicesOptions): void {
  const { children } = processes;
  const gone = (c: Child, proc: Child["proc"]) => processes.stopping !== null || c.exited || c.proc !== proc;
  let readyCount = 0;

  const reportReady = (c: Child, notReady: string | null) => {
    c.ready = true;
    if (c.restarts.count > 0) {
      // Back after a restart: one line; the summary is for the first start only.
      const back =
        notReady === null
          ? `${s.green("✓")} ${s.bold(c.svc.name)} ready again`
          : `${s.yellow("!")} ${s.bold(c.svc.name)} up again (not ready: ${notReady})`;
      out(`${back} ${s.dim(`(restart ${c.restarts.count}, pid ${c.proc.pid})`)}`);
      return;
    }
    const base = `http://localhost:${c.svc.port}`;
    const urls = `API ${base}/api  docs ${base}/docs`;
    if (notReady !== null) out(`${s.yellow("!")} ${s.bold(c.svc.name)} up (not ready: ${notReady})  ${urls}`);
    else out(`${s.green("✓")} ${s.bold(c.svc.name)} ready  ${urls}`);
    readyCount++;
    if (readyCount === o.services.length) o.onAllUp();
  };

  const waitReady = async (c: Child) => {
    const base = `http://127.0.0.1:${c.svc.port}`;
    const url = `${base}/ready`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let warned = false;
    // Polls for this run only: after a crash and restart, the next run has its own poll.
    const proc = c.proc;
    while (!gone(c, proc)) {
      const ready = await probe(url);
      if (gone(c, proc)) return;
      if (ready && ready.status >= 200 && ready.status < 300) return reportReady(c, null);
      if (o.natsMissing && ready) {
        // Without NATS /ready cannot pass: alive is as good as it gets. Stop polling (each 503 logs an error).
        const health = await probe(`${base}/health`);
        if (gone(c, proc)) return;
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
        if (!processes.stopping) launch(c.svc, index, c);
      });
      return;
    }
    err(
      `${s.red("✗")} ${s.bold(c.svc.name)} exited with ${how}: ${decision.crashes} crashes within ` +
        `${formatDelay(o.restartPolicy.windowMs)}, so it is left stopped; the others keep running ` +
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
    const prefix = makePrefix(svc.name, o.width, colorFor(index), s);
    const proc = Bun.spawn([process.execPath, "--watch", svc.main], {
      cwd: o.root,
      env: {
        ...o.env,
        PORT: String(svc.port),
        ...(o.databaseUrls.has(svc.name) ? { DATABASE_URL: o.databaseUrls.get(svc.name) } : {}),
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
      restarts: createRestarts(o.restartPolicy),
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
      if (processes.stopping) return;
      await Promise.race([drained, sleep(500)]);
      if (processes.stopping) return;
      const how = describeExit(proc);
      // Restarting cannot fix what stops a first start (bad config, port taken): only a service that was up is.
      if (child.ready || child.restarts.count > 0) return restartAfterCrash(child, index, how);
      err(`${s.red("✗")} ${s.bold(svc.name)} exited with ${how} before it was ready.`);
      err(
        `  Its output is above, prefixed "${svc.name}". Common causes: a missing or invalid setting ` +
          `(${relative(o.root, svc.dir)}/src/config.ts), port ${svc.port} taken (\`lsof -i :${svc.port}\`), ` +
          "or Postgres/NATS unreachable.",
      );
      await o.stop(1);
    });
    void waitReady(child);
  };

  for (const [index, svc] of o.services.entries()) launch(svc, index);
}
