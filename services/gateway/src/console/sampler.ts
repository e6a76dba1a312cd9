import type { Registry } from "prom-client";

/** Cumulative counters of one route × upstream at one instant (from the gateway's own Prometheus metrics). */
type Cumulative = { requests: number; errors: number; buckets: { le: number; count: number }[] };
type Snapshot = { at: number; byKey: Map<string, Cumulative> };

/** One route × upstream over the console's window: what the migration map shows beside the weights. */
export type UpstreamStats = {
  requests: number;
  /** Requests per second over the window. */
  rps: number;
  /** 5xx answers and failed attempts ÷ requests; null with no requests. */
  errorRate: number | null;
  /** From the histogram buckets (upper bound of the bucket holding the 95th percentile); null with no requests. */
  p95Ms: number | null;
};

/** One point of "how much is strangled": the share of requests served by new services in one interval. */
export type SharePoint = { at: number; newShare: number | null; requests: number };

export type ConsoleSampler = {
  /** Stats of a route's upstream over the last `windowMs`. */
  stats(route: string, upstream: string): UpstreamStats;
  /** The share served by upstreams other than the legacy one, one point per sample, oldest first. */
  share(): SharePoint[];
  /** Takes a sample now (also what the interval calls). */
  sample(): Promise<void>;
  start(): void;
  stop(): void;
};

const key = (route: string, upstream: string) => `${route}\u0000${upstream}`;

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string };
async function valuesOf(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return ((await metric.get()) as { values: MetricValue[] }).values;
}

async function read(registry: Registry): Promise<Map<string, Cumulative>> {
  const byKey = new Map<string, Cumulative>();
  const entry = (route: unknown, upstream: unknown) => {
    const k = key(String(route), String(upstream));
    const found = byKey.get(k);
    if (found) return found;
    const c: Cumulative = { requests: 0, errors: 0, buckets: [] };
    byKey.set(k, c);
    return c;
  };
  for (const v of await valuesOf(registry, "gateway_upstream_requests_total"))
    entry(v.labels.route, v.labels.upstream).requests += v.value;
  // http_5xx kinds are answers (already counted as requests); the other kinds are attempts with no answer.
  for (const v of await valuesOf(registry, "gateway_upstream_errors_total")) {
    const c = entry(v.labels.route, v.labels.upstream);
    c.errors += v.value;
    if (!String(v.labels.kind).startsWith("http_")) c.requests += v.value;
  }
  for (const v of await valuesOf(registry, "gateway_upstream_duration_seconds")) {
    if (!v.metricName?.endsWith("_bucket")) continue;
    const le = v.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(v.labels.le);
    entry(v.labels.route, v.labels.upstream).buckets.push({ le, count: v.value });
  }
  return byKey;
}

function p95Of(now: Cumulative["buckets"], then: Cumulative["buckets"] | undefined): number | null {
  const deltas = now
    .map((b) => ({ le: b.le, count: b.count - (then?.find((t) => t.le === b.le)?.count ?? 0) }))
    .sort((a, b) => a.le - b.le);
  const total = deltas.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const bucket = deltas.find((b) => b.count >= total * 0.95);
  if (!bucket) return null;
  // Past the last finite bound the histogram only says "more than that".
  const finite = bucket.le === Number.POSITIVE_INFINITY ? (deltas.at(-2)?.le ?? 0) : bucket.le;
  return finite * 1000;
}

/**
 * A small in-memory time series of the gateway's per-route, per-upstream metrics, sampled every few
 * seconds: rates, error rates and p95 over a sliding window, and the share served by new services.
 *
 * @example
 * const sampler = createConsoleSampler({ registry: metrics.registry, legacy: "monolith" });
 * sampler.start();
 * sampler.stats("orders", "orders-service").p95Ms;
 */
export function createConsoleSampler({
  registry,
  legacy = "monolith",
  intervalMs = 5000,
  windowMs = 60_000,
  keep = 360,
}: {
  registry: Registry;
  /** The upstream being strangled (the default route's); every other one counts as a new service. */
  legacy?: string;
  intervalMs?: number;
  windowMs?: number;
  keep?: number;
}): ConsoleSampler {
  const snapshots: Snapshot[] = [];
  const points: SharePoint[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;

  const windowStart = (): Snapshot | undefined => {
    const last = snapshots.at(-1);
    if (!last) return undefined;
    return snapshots.find((s) => last.at - s.at <= windowMs);
  };

  async function sample() {
    const byKey = await read(registry);
    const at = Date.now();
    const previous = snapshots.at(-1);
    snapshots.push({ at, byKey });
    if (snapshots.length > keep) snapshots.shift();
    if (!previous) return;
    let all = 0;
    let fresh = 0;
    for (const [k, c] of byKey) {
      const delta = c.requests - (previous.byKey.get(k)?.requests ?? 0);
      all += delta;
      if (k.split("\u0000")[1] !== legacy) fresh += delta;
    }
    points.push({ at, newShare: all > 0 ? fresh / all : null, requests: all });
    if (points.length > keep) points.shift();
  }

  return {
    stats(route, upstream) {
      const last = snapshots.at(-1);
      const first = windowStart();
      const now = last?.byKey.get(key(route, upstream));
      if (!last || !first || !now) return { requests: 0, rps: 0, errorRate: null, p95Ms: null };
      // With a single snapshot, the window is "since the gateway started".
      const then = first === last ? undefined : first.byKey.get(key(route, upstream));
      const requests = now.requests - (then?.requests ?? 0);
      const errors = now.errors - (then?.errors ?? 0);
      const seconds = first === last ? 0 : (last.at - first.at) / 1000;
      return {
        requests,
        rps: seconds > 0 ? requests / seconds : 0,
        errorRate: requests > 0 ? errors / requests : null,
        p95Ms: p95Of(now.buckets, then?.buckets),
      };
    },
    share: () => points.slice(),
    sample,
    start() {
      if (timer) return;
      void sample();
      timer = setInterval(() => void sample().catch(() => {}), intervalMs);
      timer.unref?.();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
