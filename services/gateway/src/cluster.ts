import type { Logger } from "@fig/service";

/** One of the N gateway processes on a host: how many share the port, and which this is (0 starts the rest). */
export type ProcessRole = { processes: number; index: number };

export type ProcessSupervisor = {
  /** Starts processes 1 … N-1 on `port` (the one process 0 listens on, resolved when PORT was 0). */
  start(port: number): void;
  /** Sends SIGTERM to every live process and resolves once all have exited; none is restarted after. */
  stop(): Promise<void>;
  /** The live processes' pids, by index (1 … N-1). */
  pids(): Map<number, number>;
};

export type SupervisorOptions = {
  role: ProcessRole;
  /** The command that starts one more gateway process (this one's: `bun [flags] src/main.ts`). */
  argv: string[];
  env: Record<string, string | undefined>;
  logger: Pick<Logger, "info" | "warn" | "error">;
  /** First restart delay after a process died on its own; doubles up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
};

/** A process that ran this long before dying is restarted at the first delay again. */
const HEALTHY_RUN_MS = 60_000;

/**
 * Process 0 of N: starts the other N-1 gateway processes (Bun.spawn, the same entry and environment plus
 * PORT and FIG_GATEWAY_PROCESS_INDEX), restarts one that dies (backing off), and stops them with itself.
 * They stay in process 0's session: with a session of their own (`detached`), Linux's autogroup scheduling
 * weighed each as a whole session against process 0 with the load generator, and under load the second
 * process got ⅓ of the CPU (bench/gateway-scale.ts). So a signal to the group reaches them all (a Ctrl-C,
 * systemd's control-group SIGTERM), and process 0's comes second: `ignoreRepeatedSignals` keeps a repeated
 * one from ending a drain.
 * A process whose parent is gone stops itself (`watchParent`), so a `kill -9` of process 0 leaves none behind.
 *
 * @example
 * const supervisor = superviseProcesses({ role, argv: [process.execPath, ...process.argv.slice(1)], env: process.env, logger });
 * supervisor.start(port);
 * process.once("SIGTERM", () => void supervisor.stop());
 */
export function superviseProcesses({
  role,
  argv,
  env,
  logger,
  restartDelayMs = 1000,
  maxRestartDelayMs = 30_000,
}: SupervisorOptions): ProcessSupervisor {
  const live = new Map<number, Bun.Subprocess>();
  const delays = new Map<number, number>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let stopping = false;
  let port = 0;

  function spawn(index: number) {
    const startedAt = Date.now();
    const child = Bun.spawn(argv, {
      env: { ...env, PORT: String(port), FIG_GATEWAY_PROCESS_INDEX: String(index) },
      stdio: ["ignore", "inherit", "inherit"],
    });
    live.set(index, child);
    logger.info({ gatewayProcess: index, pid: child.pid }, "gateway process started");
    void child.exited.then((code) => {
      live.delete(index);
      if (stopping) {
        if (code !== 0)
          logger.warn(
            { gatewayProcess: index, pid: child.pid, code, signal: child.signalCode },
            "gateway process did not stop cleanly",
          );
        return;
      }
      const ranMs = Date.now() - startedAt;
      const delay = ranMs >= HEALTHY_RUN_MS ? restartDelayMs : (delays.get(index) ?? restartDelayMs);
      delays.set(index, Math.min(delay * 2, maxRestartDelayMs));
      logger.warn(
        { gatewayProcess: index, pid: child.pid, code, signal: child.signalCode, restartInMs: delay },
        "gateway process exited; restarting it",
      );
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!stopping) spawn(index);
      }, delay);
      timers.add(timer);
    });
  }

  return {
    start(listeningPort) {
      // A signal that came while process 0 was starting stopped it before there was anything to start.
      if (stopping) return;
      port = listeningPort;
      for (let index = 1; index < role.processes; index++) spawn(index);
    },
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const exits = [...live.values()].map((child) => {
        child.kill("SIGTERM");
        return child.exited;
      });
      await Promise.all(exits);
    },
    pids: () => new Map([...live].map(([index, child]) => [index, child.pid])),
  };
}

/**
 * Processes 1 … N-1: when the process that started them is gone (killed, even with SIGKILL, so it could not
 * stop them), this one shuts down gracefully, through its own SIGTERM handler, unless it is stopping already.
 * Polls the parent pid (cheap: one getppid a second); Linux has PR_SET_PDEATHSIG, which Bun does not expose.
 *
 * @returns stops the watch.
 */
export function watchParent({
  parentPid,
  stopping,
  onGone = () => process.kill(process.pid, "SIGTERM"),
  intervalMs = 1000,
}: {
  parentPid: number;
  /** True once the process is shutting down already (a second SIGTERM would end it mid-drain). */
  stopping: () => boolean;
  onGone?: () => void;
  intervalMs?: number;
}): () => void {
  const timer = setInterval(() => {
    if (process.ppid === parentPid) return;
    clearInterval(timer);
    if (!stopping()) onGone();
  }, intervalMs);
  timer.unref?.();
  return () => clearInterval(timer);
}

/**
 * Processes 1 … N-1: the first SIGTERM or SIGINT starts the drain (serveApp's handler, once per signal); a
 * listener that stays keeps the same signal a second time (systemd's SIGTERM to the whole control group,
 * then process 0's) from ending the process half-way. The shutdown's own deadline still ends it.
 */
export function ignoreRepeatedSignals(): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => {});
}
