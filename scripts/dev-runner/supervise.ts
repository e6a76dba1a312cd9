/**
 * How `bun run dev` restarts a service that stopped on its own, as compose's `restart: unless-stopped` would:
 * after a backoff that doubles with each crash (0.5 s, 1 s, 2 s …, capped), until it crashes too often within
 * a window (5 within 60 s), when it is left stopped with its last lines shown.
 */

export interface RestartPolicy {
  /** Delay before the first restart of a streak; each further crash within the window doubles it. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** This many crashes within `windowMs` and the service is left stopped. */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  firstDelayMs: 500,
  maxDelayMs: 8_000,
  maxCrashes: 5,
  windowMs: 60_000,
};

export const RESTART_POLICY_FORMAT =
  "backoff=<first>..<max>,limit=<crashes>/<window> (e.g. backoff=500ms..8s,limit=5/60s)";

/** "500ms", "2s", "1.5s" → milliseconds; null when it is not a duration. */
function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim());
  if (!match) return null;
  const value = Number(match[1]) * (match[2] === "s" ? 1000 : 1);
  return Number.isFinite(value) ? Math.round(value) : null;
}

/**
 * The restart policy FIG_DEV_RESTART names (defaults for what it leaves out), or an error message.
 *
 * @example
 * parseRestartPolicy("backoff=50ms..200ms,limit=3/60s") // { firstDelayMs: 50, maxDelayMs: 200, maxCrashes: 3, windowMs: 60000 }
 */
export function parseRestartPolicy(value: string | undefined): RestartPolicy | string {
  const policy = { ...DEFAULT_RESTART_POLICY };
  if (value === undefined || value.trim() === "") return policy;
  const bad = `FIG_DEV_RESTART must read ${RESTART_POLICY_FORMAT} (got ${JSON.stringify(value)})`;
  for (const part of value.split(",")) {
    const [key, setting = ""] = part.split("=").map((t) => t.trim());
    if (key === "backoff") {
      const [first, max] = setting.split("..").map((t) => parseDuration(t ?? ""));
      if (first == null || max == null || first > max) return bad;
      policy.firstDelayMs = first;
      policy.maxDelayMs = max;
    } else if (key === "limit") {
      const [count = "", window = ""] = setting.split("/");
      const crashes = Number(count);
      const windowMs = parseDuration(window);
      if (!/^\d+$/.test(count.trim()) || crashes < 1 || windowMs == null || windowMs <= 0) return bad;
      policy.maxCrashes = crashes;
      policy.windowMs = windowMs;
    } else {
      return bad;
    }
  }
  return policy;
}

export type CrashDecision =
  | { action: "restart"; delayMs: number; restart: number }
  | { action: "give-up"; crashes: number };

/** "0.5 s", "1 s", "60 s", "50 ms": as the runner prints a delay or a window. */
export function formatDelay(ms: number): string {
  return ms < 100 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * One service's restarts: what to do after each crash, and the timer of a pending restart.
 * `now` is injectable so the policy is tested without waiting.
 */
export function createRestarts(policy: RestartPolicy, now: () => number = Date.now) {
  let crashTimes: number[] = [];
  let restarts = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    /** Restarts so far (since the runner started). */
    get count() {
      return restarts;
    },
    /** A restart is waiting out its backoff. */
    get pending() {
      return timer !== undefined;
    },
    /** Records a crash; restart after `delayMs`, or give up when the window holds `maxCrashes`. */
    crashed(): CrashDecision {
      const at = now();
      crashTimes = [...crashTimes.filter((t) => at - t < policy.windowMs), at];
      if (crashTimes.length >= policy.maxCrashes) return { action: "give-up", crashes: crashTimes.length };
      restarts++;
      const delayMs = Math.min(policy.firstDelayMs * 2 ** (crashTimes.length - 1), policy.maxDelayMs);
      return { action: "restart", delayMs, restart: restarts };
    },
    schedule(delayMs: number, start: () => void) {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        start();
      }, delayMs);
    },
    /** Ctrl-C during a backoff: the restart never happens. */
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

export type Restarts = ReturnType<typeof createRestarts>;

/** The last `size` lines written, to show again when a service is given up (its output has scrolled by). */
export function createLineTail(size = 10) {
  let lines: string[] = [];
  return {
    push(text: string) {
      lines.push(text);
      if (lines.length > size) lines = lines.slice(-size);
    },
    lines: () => [...lines],
    clear() {
      lines = [];
    },
  };
}

export type LineTail = ReturnType<typeof createLineTail>;

/** "signal SIGKILL" or "code 1", from an exited Bun subprocess. */
export function describeExit(proc: {
  signalCode: NodeJS.Signals | number | null;
  exitCode: number | null;
}): string {
  return proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`;
}
