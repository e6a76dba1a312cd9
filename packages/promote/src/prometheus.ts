/** One sample of the Prometheus text exposition format: `name{label="v",…} value`. */
export type Sample = { name: string; labels: Record<string, string>; value: number };

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/g;

const unescapeLabel = (v: string) => v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));

/** Parses the samples of a /metrics page (comments and malformed lines are skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1] as string] = unescapeLabel(l[2] as string);
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1] as string, labels, value });
  }
  return out;
}

/** What the gateway saw of one route and upstream between two scrapes. */
export type UpstreamWindow = {
  requests: number;
  /** 5xx answers. */
  serverErrors: number;
  /** Attempts that got no answer: connection errors, timeouts (not in `requests`). */
  transportErrors: number;
  /** Cumulative histogram buckets of the time to response headers: upper bound (s) → count. */
  buckets: [number, number][];
  sumSeconds: number;
};

const matches = (s: Sample, name: string, route: string, upstream: string) =>
  s.name === name && s.labels.route === route && s.labels.upstream === upstream;

/** An upstream's counters of a route at one reading (cumulative since its gateway process started). */
export type Totals = {
  requests: number;
  serverErrors: number;
  transportErrors: number;
  sumSeconds: number;
  /** Cumulative buckets: upper bound (s, Infinity for +Inf) → count. */
  buckets: Map<number, number>;
};

function totals(samples: Sample[], route: string, upstream: string): Totals {
  let requests = 0;
  let serverErrors = 0;
  let transportErrors = 0;
  let sumSeconds = 0;
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (matches(s, "gateway_upstream_requests_total", route, upstream)) {
      requests += s.value;
      if (Number(s.labels.status) >= 500) serverErrors += s.value;
    } else if (matches(s, "gateway_upstream_errors_total", route, upstream)) {
      if (!s.labels.kind?.startsWith("http_")) transportErrors += s.value;
    } else if (matches(s, "gateway_upstream_duration_seconds_bucket", route, upstream)) {
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    } else if (matches(s, "gateway_upstream_duration_seconds_sum", route, upstream)) {
      sumSeconds += s.value;
    }
  }
  return { requests, serverErrors, transportErrors, sumSeconds, buckets };
}

// A counter lower after than before means the gateway restarted in the window: count from zero.
const delta = (after: number, before: number) => (after >= before ? after - before : after);

/**
 * The window between two scrapes for one route and upstream: counter and bucket differences.
 *
 * @example
 * const window = windowOf(parseMetrics(before), parseMetrics(after), "reference-data", "reference-data");
 */
export function windowOf(before: Sample[], after: Sample[], route: string, upstream: string): UpstreamWindow {
  return windowBetween(totals(before, route, upstream), totals(after, route, upstream));
}

/** The window between two readings of one process's counters: their differences (from zero after a restart). */
export function windowBetween(a: Totals, b: Totals): UpstreamWindow {
  const bounds = [...new Set([...a.buckets.keys(), ...b.buckets.keys()])].sort((x, y) => x - y);
  return {
    requests: delta(b.requests, a.requests),
    serverErrors: delta(b.serverErrors, a.serverErrors),
    transportErrors: delta(b.transportErrors, a.transportErrors),
    sumSeconds: Math.max(0, b.sumSeconds - a.sumSeconds),
    buckets: bounds.map((le) => [le, delta(b.buckets.get(le) ?? 0, a.buckets.get(le) ?? 0)]),
  };
}

/**
 * The q-quantile (0..1) in seconds from cumulative buckets, interpolated linearly inside the bucket that
 * holds it, as Prometheus' histogram_quantile does; null without observations. Above the highest finite
 * bucket it answers that bucket's bound (the histogram cannot say more).
 */
export function quantileOf(buckets: [number, number][], q: number): number | null {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
