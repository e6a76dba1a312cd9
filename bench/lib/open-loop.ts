/**
 * A constant-arrival-rate load generator (open loop, as wrk2 — which Debian does not package): request i is due
 * at start + i / rate, whatever happened to the ones before it, and its latency is counted from when it was
 * due, so a slow response delays nobody's clock (no coordinated omission). Runs in the calling process with
 * `fetch`. As wrk2, it holds a fixed number of connections: at most `connections` requests are in flight, the
 * others wait in order (that wait counts in their latency). Without the cap a short stall of the machine makes
 * fetch open hundreds of new connections at once, and the proxy behind it as many to its upstream: the run
 * then measures connection storms, not the proxy.
 */

export type OpenLoopResult = {
  /** Requests sent (all due ones) and answered with a 2xx. */
  sent: number;
  ok: number;
  failed: number;
  /** Answers per second, from the start until the last answer (below `rate` when the target lagged). */
  rate: number;
  /** Latency from the moment each request was due, in ms (what a client at that rate sees). */
  fromDue: Percentiles;
  /** Latency from the moment fetch() was called, in ms (the generator's own lag taken out). */
  fromSend: Percentiles;
  /** How late fetch() was called after a request was due, p99 in ms: the generator's lag plus the wait for a
   * free connection (a large value means the target, or the machine, did not keep up). */
  sendLagP99: number;
};
export type Percentiles = { p50: number; p90: number; p99: number; max: number };

export function percentiles(values: Float64Array | number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) =>
    sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) : 0;
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? 0) : 0,
  };
}

/**
 * Sends `rate` requests per second to `url` for `seconds`, then waits for the stragglers (up to `timeoutMs`).
 * Requests are issued from a 1 ms tick: every tick sends all requests that have come due since the last one.
 */
export async function runOpenLoop(options: {
  url: string;
  rate: number;
  seconds: number;
  headers?: Record<string, string>;
  connections?: number;
  timeoutMs?: number;
}): Promise<OpenLoopResult> {
  const { url, rate, seconds, headers = {}, connections = 50, timeoutMs = 10_000 } = options;
  const total = Math.round(rate * seconds);
  const fromDue = new Float64Array(total);
  const fromSend = new Float64Array(total);
  const lag = new Float64Array(total);
  let ok = 0;
  let failed = 0;
  let done = 0;
  let inFlight = 0;
  let next = 0; // the next request to send
  let due = 0; // requests due so far
  let allDone: () => void = () => {};
  const finished = new Promise<void>((r) => {
    allDone = r;
  });
  const start = performance.now();
  const dueAt = (i: number) => start + (i * 1000) / rate;

  const send = (i: number) => {
    inFlight++;
    const sentAt = performance.now();
    lag[i] = sentAt - dueAt(i);
    fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status >= 200 && res.status < 300) ok++;
        else failed++;
      })
      .catch(() => {
        failed++;
      })
      .finally(() => {
        const end = performance.now();
        fromDue[i] = end - dueAt(i);
        fromSend[i] = end - sentAt;
        inFlight--;
        done++;
        pump();
        if (done === total) allDone();
      });
  };
  // Sends every due request a connection is free for; called on each tick and each completion.
  const pump = () => {
    while (next < due && inFlight < connections) send(next++);
  };

  while (due < total) {
    due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    pump();
    await Bun.sleep(1);
  }
  if (total > 0) await finished;
  const runSeconds = (performance.now() - start) / 1000;
  return {
    sent: done,
    ok,
    failed,
    rate: total / runSeconds,
    fromDue: percentiles(fromDue),
    fromSend: percentiles(fromSend),
    sendLagP99: percentiles(lag).p99,
  };
}
