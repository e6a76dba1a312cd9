/** The builtin engine's `k6/metrics` module: Counter, Gauge, Rate, Trend (created in the init context, as in k6). */
import { currentRun, currentVu, type RunState } from "../context.ts";
import type { Metric, MetricType, Tags } from "../metrics.ts";
import { sampleTags } from "./k6.ts";

class CustomMetric {
  readonly name: string;
  readonly #metric: Metric;
  readonly #run: RunState;

  constructor(name: string, type: MetricType, isTime: boolean) {
    if (currentVu())
      throw new Error(`metric "${name}": custom metrics can only be created in the init context`);
    this.#run = currentRun();
    this.#metric = this.#run.registry.define(name, type, isTime ? "time" : "default");
    this.name = name;
  }

  add(value: number | boolean, tags?: Tags): boolean {
    const vu = currentVu();
    if (!vu) throw new Error(`metric "${this.name}": add() can only be called from a VU`);
    const number = typeof value === "boolean" ? Number(value) : Number(value);
    if (Number.isNaN(number)) throw new TypeError(`metric "${this.name}": ${String(value)} is not a number`);
    this.#run.registry.add(this.#metric, number, sampleTags(vu, tags));
    return true;
  }
}

export class Counter extends CustomMetric {
  constructor(name: string) {
    super(name, "counter", false);
  }
}
export class Gauge extends CustomMetric {
  constructor(name: string, isTime = false) {
    super(name, "gauge", isTime);
  }
}
export class Rate extends CustomMetric {
  constructor(name: string) {
    super(name, "rate", false);
  }
}
export class Trend extends CustomMetric {
  constructor(name: string, isTime = false) {
    super(name, "trend", isTime);
  }
}

export const metricsModule = { Counter, Gauge, Rate, Trend };
