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

/**
 * The label object of a new child. Its own function: the loop's closure inside `child` would have JSC allocate
 * child's captured scope on every call (every request), not only when a child is made.
 */
function labelsOf(names: readonly string[], values: (string | undefined)[]): Labels {
  const labels: Labels = {};
  names.forEach((name, i) => {
    labels[name] = values[i] as string;
  });
  return labels;
}

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

  /**
   * The child of these label values (in `labelNames` order, up to four), made on first use. Fixed parameters,
   * not a rest array: it is called on every request, and an array of the values was ≈ 60 B each time.
   */
  child(a: string, b?: string, c?: string, d?: string): Child {
    const count = this.labelNames.length;
    if (
      count > 4 ||
      (b === undefined) !== count < 2 ||
      (c === undefined) !== count < 3 ||
      (d === undefined) !== count < 4
    )
      throw new Error(`${this.name}: expected ${count} label values`);
    let level: Map<string, unknown> = this.index;
    let last = a;
    if (b !== undefined) {
      level = this.level(level, a);
      last = b;
      if (c !== undefined) {
        level = this.level(level, b);
        last = c;
        if (d !== undefined) {
          level = this.level(level, c);
          last = d;
        }
      }
    }
    let child = level.get(last) as Child | undefined;
    if (!child) {
      const labels = labelsOf(this.labelNames, [a, b, c, d]);
      child = this.create();
      this.children.push({ labels, child });
      level.set(last, child);
    }
    return child;
  }

  /** The map under `value` in `level`, made on first use. */
  private level(level: Map<string, unknown>, value: string): Map<string, unknown> {
    let next = level.get(value) as Map<string, unknown> | undefined;
    if (!next) {
      next = new Map<string, unknown>();
      level.set(value, next);
    }
    return next;
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
