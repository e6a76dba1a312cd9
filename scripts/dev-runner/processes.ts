import { join } from "node:path";
import { removeDevDatabases } from "../../packages/db/src/dev-databases.ts";
import type { DevService } from "./discover.ts";
import { releasePidFile } from "./pidfile.ts";
import type { LineTail, Restarts } from "./supervise.ts";

/** One service; `proc`, `ready`, `exited`, `drained` and the tails are those of its current run. */
export interface Child {
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
export interface NatsChild {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  exited: boolean;
  drained: Promise<void>;
}

/** What this runner started, and whether it is stopping (`forced`: a second Ctrl-C). */
export interface Processes {
  children: Child[];
  nats: NatsChild | null;
  stopping: Promise<void> | null;
  forced: boolean;
}

/**
 * The runner's processes, with a safety net for unexpected exits: never leave our own children, our
 * databases file or our pid file behind.
 */
export function trackProcesses(root: string, pidFile: string): Processes {
  const processes: Processes = { children: [], nats: null, stopping: null, forced: false };
  process.on("exit", () => {
    for (const c of processes.children) {
      if (!c.exited) {
        try {
          c.proc.kill("SIGKILL");
        } catch {}
      }
    }
    const nats = processes.nats;
    if (nats && !nats.exited) {
      try {
        nats.proc.kill("SIGTERM"); // it shuts down cleanly on its own; we cannot wait here
      } catch {}
    }
    removeDevDatabases(join(root, ".data"), process.pid);
    releasePidFile(pidFile);
  });
  return processes;
}
