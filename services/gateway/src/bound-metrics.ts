import type { Metric, Registry } from "prom-client";

/**
 * A counter and a histogram whose label sets are bound once (`child(...)`) and then updated with plain
 * arithmetic, exposed through a prom-client `Registry` like its own metrics (same text format).
 *
 * Why not prom-client's own: its `labels(...)` children still sort, validate and join the labels into a hash
 * key on every update, which is most of a metric update's cost; the gateway makes four per request. Here a
 * child is found once per label set (the caller keeps it, or finds it through nested Maps, no key string),
 * and the registry reads the children only when /metrics is scraped.
 */
type Labels = Record<string, string | number>;
type MetricType = "counter" | "histogram";
/** One exposition line as prom-client's Registry reads it from `get()`. */
type MetricValue = { metricName?: string; labels: Labels; value: number };

type Options = { name: string; help: string; labelNames: readonly string[]; registers: Registry[] };

abstract class BoundMetric<Child> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = "sum" as const;
  abstract readonly type: MetricType;
  protected readonly children: { labels: Labels; child: Child }[] = [];
  private readonly labelNames: readonly string[];
  private readonly index = new Map<string, unknown>();

  constructor({ name, help, labelNames, registers }: Options) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    for (const registry of registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The child of these label values (in `labelNames` order), made on first use. */
  child(...values: string[]): Child {
    if (values.length !== this.labelNames.length)
      throw new Error(`${this.name}: expected ${this.labelNames.length} label values`);
    let level: Map<string, unknown> = this.index;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const value = values[i] as string;
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map<string, unknown>();
        level.set(value, next);
      }
      level = next;
    }
    let child = level.get(values[last] as string) as Child | undefined;
    if (!child) {
      const labels: Labels = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i] as string;
      });
      child = this.create();
      this.children.push({ labels, child });
      level.set(values[last] as string, child);
    }
    return child;
  }

  protected abstract create(): Child;
  protected abstract values(): MetricValue[];

  async get(): Promise<{
    name: string;
    help: string;
    type: MetricType;
    values: MetricValue[];
    aggregator: "sum";
  }> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: "sum" };
  }

  reset(): void {
    this.children.length = 0;
    this.index.clear();
  }
}

export type CounterChild = { value: number; inc(by?: number): void };

export class BoundCounter extends BoundMetric<CounterChild> {
  readonly type = "counter";

  protected create(): CounterChild {
    return {
      value: 0,
      inc(by = 1) {
        this.value += by;
      },
    };
  }

  protected values(): MetricValue[] {
    return this.children.map(({ labels, child }) => ({ labels, value: child.value }));
  }
}

export type HistogramChild = { observe(value: number): void };

class BucketCounts implements HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    const counts = this.counts;
    for (let i = 0; i < bounds.length; i++)
      if (value <= (bounds[i] as number)) {
        counts[i] = (counts[i] as number) + 1;
        return;
      }
  }
}

export class BoundHistogram extends BoundMetric<HistogramChild> {
  readonly type = "histogram";
  private readonly buckets: readonly number[];

  constructor(options: Options & { buckets: readonly number[] }) {
    super(options);
    this.buckets = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramChild {
    return new BucketCounts(this.buckets);
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const { labels, child } of this.children) {
      const { counts, sum, count } = child as BucketCounts;
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += counts[i] as number;
        out.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
      });
      out.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf", ...labels }, value: count });
      out.push({ metricName: `${this.name}_sum`, labels, value: sum });
      out.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return out;
  }
}
