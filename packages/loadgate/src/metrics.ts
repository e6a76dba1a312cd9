/**
 * Metric sinks and the registry, with k6's aggregation semantics (k6 metrics/sink.go): trends keep every value
 * and interpolate percentiles linearly between closest ranks; rates count non-zero samples; counters sum;
 * gauges keep the last value (and min/max).
 */
export type MetricType = "counter" | "gauge" | "rate" | "trend";
export type ValueKind = "default" | "time" | "data";
export type Tags = Record<string, string>;

export class TrendSink {
  private values = new Float64Array(1024);
  private sortedCache: Float64Array | undefined;
  count = 0;
  sum = 0;
  min = 0;
  max = 0;

  add(value: number) {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count] = value;
    if (this.count === 0 || value < this.min) this.min = value;
    if (this.count === 0 || value > this.max) this.max = value;
    this.count++;
    this.sum += value;
    this.sortedCache = undefined;
  }

  get avg() {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  get med() {
    return this.percentile(50);
  }

  /**
   * k6's TrendSink.P: 0 when empty, the only value when one, else linear interpolation at rank
   * `pct/100 × (count − 1)` of the sorted values.
   */
  percentile(pct: number): number {
    if (this.count === 0) return 0;
    if (this.count === 1) return this.values[0] as number;
    if (!this.sortedCache) this.sortedCache = this.values.slice(0, this.count).sort();
    const sorted = this.sortedCache;
    const rank = (pct / 100) * (this.count - 1);
    const lower = sorted[Math.floor(rank)] as number;
    const upper = sorted[Math.ceil(rank)] as number;
    return lower + (upper - lower) * (rank - Math.floor(rank));
  }
}

export class RateSink {
  trues = 0;
  count = 0;
  add(value: number) {
    this.count++;
    if (value !== 0) this.trues++;
  }
  get rate() {
    return this.count === 0 ? 0 : this.trues / this.count;
  }
}

export class CounterSink {
  sum = 0;
  count = 0;
  add(value: number) {
    this.sum += value;
    this.count++;
  }
}

export class GaugeSink {
  value = 0;
  min = 0;
  max = 0;
  count = 0;
  add(value: number) {
    if (this.count === 0 || value < this.min) this.min = value;
    if (this.count === 0 || value > this.max) this.max = value;
    this.value = value;
    this.count++;
  }
}

export type Sink = TrendSink | RateSink | CounterSink | GaugeSink;

function newSink(type: MetricType): Sink {
  switch (type) {
    case "trend":
      return new TrendSink();
    case "rate":
      return new RateSink();
    case "counter":
      return new CounterSink();
    case "gauge":
      return new GaugeSink();
  }
}

/** A metric restricted to samples carrying every one of `tags` (k6: `http_req_duration{name:get-code}`). */
export type Submetric = { key: string; tags: [string, string][]; sink: Sink };

export type Metric = {
  name: string;
  type: MetricType;
  contains: ValueKind;
  sink: Sink;
  submetrics: Submetric[];
};

const METRIC_NAME = /^[\p{L}\p{N}._ !?/&#()<>%-]{1,128}$/u;

export class MetricRegistry {
  readonly metrics = new Map<string, Metric>();

  /** Get or create; a second definition with another type is an error, as in k6. */
  define(name: string, type: MetricType, contains: ValueKind = "default"): Metric {
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type)
        throw new Error(`metric "${name}" is already defined as a ${existing.type}, not a ${type}`);
      return existing;
    }
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    const metric: Metric = { name, type, contains, sink: newSink(type), submetrics: [] };
    this.metrics.set(name, metric);
    return metric;
  }

  /** The sub-metric for `key` (`name{k:v,...}`), created on first use. */
  submetric(metric: Metric, key: string, tags: [string, string][]): Submetric {
    const found = metric.submetrics.find((s) => s.key === key);
    if (found) return found;
    const sub: Submetric = { key, tags, sink: newSink(metric.type) };
    metric.submetrics.push(sub);
    return sub;
  }

  add(metric: Metric, value: number, tags: Tags) {
    metric.sink.add(value);
    for (const sub of metric.submetrics) {
      let matches = true;
      for (const [k, v] of sub.tags) {
        if (tags[k] !== v) {
          matches = false;
          break;
        }
      }
      if (matches) sub.sink.add(value);
    }
  }
}

/** The samples a sink holds (0 means no data). */
export function sampleCount(sink: Sink): number {
  return sink.count;
}
