import { join } from "node:path";
import { removeDevDatabases } from "../../packages/db/src/dev-databases.ts";
import { releasePidFile } from "./pidfile.ts";
import type { Processes } from "./processes.ts";
import { err, out, s, sleep } from "./terminal.ts";

const STOP_TIMEOUT_MS = 15_000;
const NATS_STOP_TIMEOUT_MS = 10_000;

export type StopOptions = {
  root: string;
  pidFile: string;
  /** The embedded databases' servers, closed after the services stopped. */
  closeDatabases: () => Promise<void>;
};

async function stopNats(processes: Processes): Promise<void> {
  const n = processes.nats;
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
}

/**
 * Stops everything once and exits with `code`: no restart after this (even one waiting out its backoff), each
 * service SIGTERMed and SIGKILLed after STOP_TIMEOUT_MS, then the databases, then NATS (last, so the services
 * can flush and close their connections first).
 */
export function stopAll(processes: Processes, o: StopOptions, code: number): Promise<void> {
  if (processes.stopping) return processes.stopping;
  const { children } = processes;
  processes.stopping = (async () => {
    for (const c of children) c.restarts.cancel();
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
    if (timedOut && !processes.forced) {
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
    await o.closeDatabases();
    await stopNats(processes);
    removeDevDatabases(join(o.root, ".data"), process.pid);
    releasePidFile(o.pidFile);
    process.exit(code);
  })();
  return processes.stopping;
}

/** Ctrl-C (and SIGTERM, SIGHUP) stops everything; a second one kills what is left without waiting. */
export function stopOnSignals(processes: Processes, o: StopOptions): void {
  const onSignal = (signal: string) => {
    if (processes.stopping) {
      processes.forced = true;
      for (const c of processes.children.filter((x) => !x.exited)) {
        try {
          c.proc.kill("SIGKILL");
        } catch {}
      }
      const nats = processes.nats;
      if (nats && !nats.exited) {
        try {
          nats.proc.kill("SIGKILL");
        } catch {}
      }
      return;
    }
    const nats = processes.nats;
    const what = `${processes.children.filter((c) => !c.exited).length} service(s)${nats && !nats.exited ? " and nats-server" : ""}`;
    out();
    out(`${s.dim(`${signal}: stopping ${what}… (Ctrl-C again to force)`)}`);
    void stopAll(processes, o, 0);
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGHUP", () => onSignal("SIGHUP"));
}
