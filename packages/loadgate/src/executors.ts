/**
 * k6 executors over one event loop. Closed model: constant-vus, ramping-vus, per-vu-iterations (a VU starts its
 * next iteration when the last one ends). Open model: constant-arrival-rate starts `rate` iterations per
 * `timeUnit` on free VUs; with none free the start is a dropped iteration and, below maxVUs, one more VU is
 * allocated for the following starts (k6 allocates in the background and drops the start too).
 */
import type { VuState } from "./context.ts";
import { waitUntil } from "./modules/k6.ts";
import {
  type ConstantArrivalRateScenario,
  type ConstantVusScenario,
  type PerVuIterationsScenario,
  type RampingVusScenario,
  rampingTarget,
  type Scenario,
} from "./scenarios.ts";

export type ExecutorRuntime = {
  /** A new VU of the scenario (counts towards vus_max). */
  newVu(): VuState;
  /** One iteration on `vu`; never throws. */
  iterate(vu: VuState): Promise<void>;
  /** Active-VU bookkeeping for the `vus` gauge. */
  active(delta: number): void;
  dropped(): void;
  /** Aborts at the hard stop: in-flight requests end as interrupted, sleeps return. */
  hardStop(): void;
  /** The run's stop signal (threshold abort, external stop). */
  stopSignal: AbortSignal;
};

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Waits for `work` until `deadline`, then hard-stops and gives stragglers one more second. */
async function finish(work: Promise<unknown>[], deadline: number, rt: ExecutorRuntime) {
  let settled = false;
  const all = Promise.all(work).then(() => {
    settled = true;
  });
  await Promise.race([all, waitUntil(deadline, rt.stopSignal)]);
  if (!settled) {
    rt.hardStop();
    await Promise.race([all, Bun.sleep(1000)]);
  }
}

async function constantVus(s: ConstantVusScenario, rt: ExecutorRuntime) {
  const end = performance.now() + s.durationMs;
  const loops = range(s.vus).map(async () => {
    const vu = rt.newVu();
    rt.active(1);
    try {
      while (!rt.stopSignal.aborted && performance.now() < end) await rt.iterate(vu);
    } finally {
      rt.active(-1);
    }
  });
  await finish(loops, end + s.gracefulStopMs, rt);
}

async function rampingVus(s: RampingVusScenario, rt: ExecutorRuntime) {
  const start = performance.now();
  const total = s.stages.reduce((sum, st) => sum + st.durationMs, 0);
  const end = start + total;
  let target = rampingTarget(s, 0);
  let changed = Promise.withResolvers<void>();
  const ticker = setInterval(() => {
    const next = rampingTarget(s, performance.now() - start);
    if (next !== target) {
      target = next;
      changed.resolve();
      changed = Promise.withResolvers<void>();
    }
  }, 10);
  const stopped = () => rt.stopSignal.aborted || performance.now() >= end;
  const maxVus = Math.max(s.startVUs, ...s.stages.map((st) => st.target));
  const loops = range(maxVus).map(async (index) => {
    const vu = rt.newVu();
    while (!stopped()) {
      if (index >= target) {
        // Idle until the target changes or the schedule ends (VU stays allocated, as in k6).
        await Promise.race([changed.promise, waitUntil(end, rt.stopSignal)]);
        continue;
      }
      rt.active(1);
      try {
        while (!stopped() && index < target) await rt.iterate(vu);
      } finally {
        rt.active(-1);
      }
    }
  });
  try {
    await finish(loops, end + s.gracefulStopMs, rt);
  } finally {
    clearInterval(ticker);
    changed.resolve();
  }
}

async function constantArrivalRate(s: ConstantArrivalRateScenario, rt: ExecutorRuntime) {
  const interval = s.timeUnitMs / s.rate;
  const start = performance.now();
  const end = start + s.durationMs;
  const free: VuState[] = range(s.preAllocatedVUs).map(() => rt.newVu());
  let allocated = s.preAllocatedVUs;
  const inflight = new Set<Promise<void>>();
  for (let i = 0; !rt.stopSignal.aborted; ) {
    const due = start + i * interval;
    if (due >= end) break;
    if (performance.now() < due) {
      await waitUntil(due, rt.stopSignal);
      continue;
    }
    i++;
    const vu = free.pop();
    if (!vu) {
      rt.dropped();
      if (allocated < s.maxVUs) {
        allocated++;
        free.push(rt.newVu());
      }
      continue;
    }
    rt.active(1);
    const run: Promise<void> = rt.iterate(vu).finally(() => {
      rt.active(-1);
      free.push(vu);
      inflight.delete(run);
    });
    inflight.add(run);
  }
  await finish([...inflight], end + s.gracefulStopMs, rt);
}

async function perVuIterations(s: PerVuIterationsScenario, rt: ExecutorRuntime) {
  const end = performance.now() + s.maxDurationMs;
  const loops = range(s.vus).map(async () => {
    const vu = rt.newVu();
    rt.active(1);
    try {
      for (let i = 0; i < s.iterations && !rt.stopSignal.aborted && performance.now() < end; i++)
        await rt.iterate(vu);
    } finally {
      rt.active(-1);
    }
  });
  await finish(loops, end + s.gracefulStopMs, rt);
}

export function runExecutor(s: Scenario, rt: ExecutorRuntime): Promise<void> {
  switch (s.executor) {
    case "constant-vus":
      return constantVus(s, rt);
    case "ramping-vus":
      return rampingVus(s, rt);
    case "constant-arrival-rate":
      return constantArrivalRate(s, rt);
    case "per-vu-iterations":
      return perVuIterations(s, rt);
  }
}
