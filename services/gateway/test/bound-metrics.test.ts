import { describe, expect, test } from "bun:test";
import { Counter, Histogram, Registry } from "prom-client";
import { BoundCounter, BoundHistogram } from "../src/bound-metrics.ts";

const BUCKETS = [0.001, 0.01, 0.1, 1];

describe("bound metrics", () => {
  test("expose exactly what prom-client's counter and histogram expose for the same updates", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const labelNames = ["route", "status"] as const;
    const counter = { name: "x_total", help: "x", labelNames };
    const histogram = { name: "x_seconds", help: "y", labelNames: ["route"] as const, buckets: BUCKETS };
    const promCounter = new Counter({ ...counter, registers: [theirs] });
    const promHistogram = new Histogram({ ...histogram, registers: [theirs] });
    const boundCounter = new BoundCounter({ ...counter, registers: [ours] });
    const boundHistogram = new BoundHistogram({ ...histogram, registers: [ours] });
    const updates: [string, string, number][] = [
      ["a", "200", 0.0005],
      ["a", "200", 0.02],
      ["b", "502", 3],
      ["a", "404", 0.001],
      ["b", "200", 0.5],
    ];
    for (const [route, status, seconds] of updates) {
      promCounter.inc({ route, status });
      promHistogram.observe({ route }, seconds);
      boundCounter.child(route, status).inc();
      boundHistogram.child(route).observe(seconds);
    }
    boundCounter.child("b", "502").inc(2);
    promCounter.inc({ route: "b", status: "502" }, 2);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  test("a child is bound once per label set, and the wrong number of labels is refused", () => {
    const metric = new BoundCounter({ name: "y_total", help: "y", labelNames: ["a", "b"], registers: [] });
    expect(metric.child("1", "2")).toBe(metric.child("1", "2"));
    expect(metric.child("1", "3")).not.toBe(metric.child("1", "2"));
    expect(() => metric.child("1")).toThrow(/expected 2 label values/);
  });
});
