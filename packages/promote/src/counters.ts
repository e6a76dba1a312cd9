import type { GatewayClient, RouteCounters, UpstreamCounters } from "./gateway-client.ts";
import {
  parseMetrics,
  type Sample,
  type Totals,
  type UpstreamWindow,
  windowBetween,
  windowOf,
} from "./prometheus.ts";

/**
 * One reading of the gateway's counters of a route, taken before and after a step's window: its counters
 * endpoint (every process sharing the port, each one's own figures), or, from a gateway older than that, the
 * /metrics page of whichever process answered.
 */
export type CountersReading =
  | { source: "counters"; counters: RouteCounters }
  | { source: "metrics"; samples: Sample[]; process: string | null };

/** What the gateway saw of the candidate over a window, and whether that covers the whole gateway. */
export type StepWindow = {
  window: UpstreamWindow;
  /** How many of the gateway's processes the window covers (null: an older gateway's /metrics, not known). */
  processes: { of: number; answered: number } | null;
  /** Why the window is not the whole gateway's (a process did not answer a reading); null when it is. */
  partial: string | null;
};

/** Reads of /metrics on a connection of their own until one reaches the process the window began on. */
const SAME_PROCESS_TRIES = 20;

export async function readCounters(
  gateway: Pick<GatewayClient, "counters" | "metrics">,
  route: string,
): Promise<CountersReading> {
  const counters = await gateway.counters(route);
  if (counters) return { source: "counters", counters };
  const { text, process } = await gateway.metrics();
  return { source: "metrics", samples: parseMetrics(text), process };
}

/**
 * The reading at the end of a window. From an older gateway's /metrics with N processes on its port, the page
 * of the same process as the window's first reading (tried again on new connections until the kernel hands
 * one to it): a difference between two processes' counters means nothing.
 */
export async function readCountersAfter(
  gateway: Pick<GatewayClient, "counters" | "metrics">,
  route: string,
  before: CountersReading,
): Promise<CountersReading> {
  let after = await readCounters(gateway, route);
  for (let i = 1; i < SAME_PROCESS_TRIES && differentProcess(before, after); i++)
    after = await readCounters(gateway, route);
  return after;
}

const differentProcess = (a: CountersReading, b: CountersReading) =>
  a.source === "metrics" && b.source === "metrics" && a.process !== b.process;

const EMPTY: UpstreamWindow = {
  requests: 0,
  serverErrors: 0,
  transportErrors: 0,
  buckets: [],
  sumSeconds: 0,
};

function totalsOf(counters: UpstreamCounters | undefined): Totals {
  const buckets = new Map<number, number>();
  for (const { le, count } of counters?.duration.buckets ?? []) buckets.set(le, count);
  if (counters) buckets.set(Infinity, counters.duration.count);
  return {
    requests: counters?.requests ?? 0,
    serverErrors: counters?.serverErrors ?? 0,
    transportErrors: counters?.transportErrors ?? 0,
    sumSeconds: counters?.duration.sumSeconds ?? 0,
    buckets,
  };
}

function addWindows(windows: UpstreamWindow[]): UpstreamWindow {
  const buckets = new Map<number, number>();
  for (const w of windows)
    for (const [le, count] of w.buckets) buckets.set(le, (buckets.get(le) ?? 0) + count);
  const sum = (f: (w: UpstreamWindow) => number) => windows.reduce((n, w) => n + f(w), 0);
  return {
    requests: sum((w) => w.requests),
    serverErrors: sum((w) => w.serverErrors),
    transportErrors: sum((w) => w.transportErrors),
    sumSeconds: sum((w) => w.sumSeconds),
    buckets: [...buckets].sort(([a], [b]) => a - b),
  };
}

/**
 * The candidate's window between two readings. From the counters endpoint: each process's difference (a
 * process with a new pid was restarted in the window and counts from zero), summed over the processes in both
 * readings; a process missing from either is left out, and the window says it is partial. From /metrics:
 * the difference of one process's page, partial (and empty) if the two pages came from different processes.
 *
 * @example
 * const before = await readCounters(gateway, "reference-data");
 * // … the step's window …
 * const { window, partial } = stepWindow(before, await readCountersAfter(gateway, "reference-data", before), "reference-data", "reference-data");
 */
export function stepWindow(
  before: CountersReading,
  after: CountersReading,
  route: string,
  upstream: string,
): StepWindow {
  if (before.source === "metrics" || after.source === "metrics") {
    if (before.source !== "metrics" || after.source !== "metrics")
      return { window: EMPTY, processes: null, partial: "the gateway changed version in the window" };
    if (before.process !== after.process)
      return {
        window: EMPTY,
        processes: null,
        partial: `/metrics answered by gateway process ${before.process} before the window and ${after.process} after it (an older gateway without GET /_fig/routes/{id}/counters)`,
      };
    return {
      window: windowOf(before.samples, after.samples, route, upstream),
      processes: null,
      partial: null,
    };
  }
  const a = before.counters;
  const b = after.counters;
  const of = Math.max(a.processes.of, b.processes.of);
  const windows: UpstreamWindow[] = [];
  for (const share of b.perProcess) {
    const earlier = a.perProcess.find((p) => p.process === share.process);
    if (!earlier) continue;
    const upstreamOf = (p: { upstreams: UpstreamCounters[] }) =>
      p.upstreams.find((u) => u.upstream === upstream);
    // A new pid: the process was restarted in the window, its counters began again at zero.
    const start = earlier.pid === share.pid ? totalsOf(upstreamOf(earlier)) : totalsOf(undefined);
    windows.push(windowBetween(start, totalsOf(upstreamOf(share))));
  }
  const answered = windows.length;
  return {
    window: windows.length > 0 ? addWindows(windows) : EMPTY,
    processes: { of, answered },
    partial:
      answered < of
        ? `the gateway's counters cover ${answered} of its ${of} processes (before the window ${a.processes.answered} answered, after it ${b.processes.answered})`
        : null,
  };
}
