/**
 * Starting and stopping a service process for benchmarks, and reading its resource use from /proc.
 * Only processes started here are ever signalled, by their own pid.
 */
import { readFileSync, writeFileSync } from "node:fs";

export type Service = {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  baseUrl: string;
  /** performance.now() just before Bun.spawn. */
  spawnedAt: number;
  /** The last lines the process wrote (stdout and stderr), for error messages. */
  tail(): string;
  /** Resolves with the first JSON log line whose `msg` matches (never rejects; undefined on exit). */
  waitForLog(msg: string): Promise<Record<string, unknown> | undefined>;
};

const running = new Set<Service>();

/** A port nobody listens on right now (bound on 127.0.0.1 with port 0, then released). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

/** Env for a service: nothing inherited except what a process needs to run, plus `vars`. */
export function serviceEnv(vars: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "BUN_INSTALL"]) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return { NODE_ENV: "development", HOST: "127.0.0.1", ...env, ...vars };
}

/** Spawns `argv` (e.g. ["bun", "services/x/src/main.ts"]) with `env`; env.PORT must be set. */
export function startService(argv: string[], env: Record<string, string>, cwd: string): Service {
  const lines: string[] = [];
  const waiters: { msg: string; resolve: (v: Record<string, unknown> | undefined) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
    if (waiters.length === 0 || !line.startsWith("{")) return;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      for (const w of [...waiters])
        if (parsed.msg === w.msg) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
    } catch {}
  };
  const spawnedAt = performance.now();
  const proc = Bun.spawn(argv, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const service: Service = {
    proc,
    pid: proc.pid,
    baseUrl: `http://127.0.0.1:${env.PORT}`,
    spawnedAt,
    tail: () => lines.join("\n"),
    waitForLog: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })),
  };
  running.add(service);
  // Drain both pipes so the service never blocks on a full pipe.
  void pump(proc.stdout, onLine);
  void pump(proc.stderr, onLine);
  void proc.exited.then(() => {
    for (const w of waiters.splice(0)) w.resolve(undefined);
  });
  return service;
}

async function pump(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl = buffered.indexOf("\n");
    while (nl >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf("\n");
    }
  }
  if (buffered) onLine(buffered);
}

/**
 * Polls GET /ready every `intervalMs` until it answers 200; returns ms since spawn.
 * Throws with the service's output if it exits first or `timeoutMs` passes.
 */
export async function waitReady(
  service: Service,
  { intervalMs = 5, timeoutMs = 60_000 } = {},
): Promise<number> {
  let exited = false;
  void service.proc.exited.then(() => {
    exited = true;
  });
  const deadline = service.spawnedAt + timeoutMs;
  while (performance.now() < deadline) {
    if (exited)
      throw new Error(`the service exited (code ${service.proc.exitCode}) before /ready:\n${service.tail()}`);
    try {
      const res = await fetch(`${service.baseUrl}/ready`, { signal: AbortSignal.timeout(2000) });
      const at = performance.now();
      await res.arrayBuffer();
      if (res.status === 200) return at - service.spawnedAt;
    } catch {
      // not listening yet
    }
    await Bun.sleep(intervalMs);
  }
  throw new Error(`/ready did not answer 200 within ${timeoutMs} ms:\n${service.tail()}`);
}

/** SIGTERM (graceful drain), then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopService(service: Service, graceMs = 15_000): Promise<void> {
  if (service.proc.exitCode === null && service.proc.signalCode === null) {
    service.proc.kill("SIGTERM");
    const timer = setTimeout(() => service.proc.kill("SIGKILL"), graceMs);
    await service.proc.exited;
    clearTimeout(timer);
  }
  running.delete(service);
}

/** Stops every service started here (for cleanup after a failure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => stopService(s, 5000)));
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM …); undefined once the process is gone. */
export function procStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(
      new RegExp(`^${field}:\\s+(\\d+) kB`, "m"),
    );
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS (echo 5 > /proc/<pid>/clear_refs); false when not permitted. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every `everyMs` until stopped; returns the largest sample. */
export function sampleRss(pid: number, everyMs = 50): { stop(): number } {
  let peak = procStatusBytes(pid, "VmRSS") ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, procStatusBytes(pid, "VmRSS") ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, procStatusBytes(pid, "VmRSS") ?? 0);
      return peak;
    },
  };
}

const CLOCK_TICKS = 100; // USER_HZ: 100 on every mainstream Linux build

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (fields 14, 15)
}

/** Busy and total CPU seconds of the whole machine so far, from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / CLOCK_TICKS, total: (busy + idle + iowait) / CLOCK_TICKS };
}
