/**
 * The builtin engine's `k6` module: check, group, sleep, fail.
 *
 * `sleep()` cannot block a VU here (all VUs share one event loop), so it returns a promise: `await sleep(1)`
 * pauses the VU exactly (and is valid on k6, where sleep returns undefined). An un-awaited `sleep()` is still
 * honoured before the VU's next iteration, so a trailing `sleep(1)` paces iterations as in k6; only code
 * after an un-awaited sleep in the same iteration runs earlier than on k6.
 */
import { currentVu, md5, newGroup, type VuState } from "../context.ts";
import type { Tags } from "../metrics.ts";

function requireVu(what: string): VuState {
  const vu = currentVu();
  if (!vu) throw new Error(`${what} can only be called from a VU (the default function, setup or teardown)`);
  return vu;
}

export function isThenable(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Tags of a sample emitted by `vu` now: options.tags, scenario tags, group, then the caller's. */
export function sampleTags(vu: VuState, extra?: Tags | null): Tags {
  const tags: Tags = { ...vu.run.globalTags, ...vu.tags, group: vu.group.path };
  if (extra) for (const [k, v] of Object.entries(extra)) tags[k] = String(v);
  return tags;
}

export function check<T>(value: T, sets: Record<string, unknown>, tags?: Tags): boolean {
  const vu = requireVu("check()");
  if (isThenable(value))
    throw new TypeError(
      "check() got a Promise: in the builtin engine every http call returns one; write `await http.get(...)` " +
        "or `await http.asyncRequest(...)` (both valid on k6)",
    );
  const { registry, builtin } = vu.run;
  let all = true;
  for (const [name, condition] of Object.entries(sets)) {
    const ok = Boolean(typeof condition === "function" ? condition(value) : condition);
    registry.add(builtin.checks, ok ? 1 : 0, { ...sampleTags(vu, tags), check: name });
    let node = vu.group.checks.get(name);
    if (!node) {
      const path = `${vu.group.path}::${name}`;
      node = { name, path, id: md5(path), passes: 0, fails: 0 };
      vu.group.checks.set(name, node);
    }
    if (ok) node.passes++;
    else {
      node.fails++;
      all = false;
    }
  }
  return all;
}

let warnedAsyncGroup = false;

/** Runs `fn` in a group (sync semantics, as k6: an async callback's awaited part is not in the group). */
export function group<T>(name: string, fn: () => T): T {
  const vu = requireVu("group()");
  if (name.includes("::")) throw new Error(`group name ${JSON.stringify(name)} must not contain "::"`);
  const parent = vu.group;
  let child = parent.groups.get(name);
  if (!child) {
    child = newGroup(name, parent.path);
    parent.groups.set(name, child);
  }
  vu.group = child;
  const start = performance.now();
  try {
    const result = fn();
    if (isThenable(result) && !warnedAsyncGroup) {
      warnedAsyncGroup = true;
      console.warn(
        "loadgate: group() with an async callback: as in k6, only its synchronous part is in the group",
      );
    }
    return result;
  } finally {
    vu.group = parent;
    vu.run.registry.add(vu.run.builtin.group_duration, performance.now() - start, {
      ...sampleTags(vu),
      group: child.path,
    });
  }
}

export function sleep(seconds: number): Promise<void> {
  const vu = requireVu("sleep()");
  const ms = Math.max(0, Number(seconds) * 1000) || 0;
  // Consecutive sleeps add up, awaited or not, as they would block one after the other in k6.
  const until = Math.max(performance.now(), vu.sleepUntil) + ms;
  vu.sleepUntil = until;
  return waitUntil(until, vu.signal);
}

export function waitUntil(until: number, signal: AbortSignal): Promise<void> {
  const ms = until - performance.now();
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

export function fail(message?: string): never {
  throw new Error(message ?? "fail() called");
}

export function randomSeed(_seed: number): void {
  throw new Error(
    "randomSeed() is not supported by the builtin engine (Math.random cannot be seeded in Bun)",
  );
}

export const k6Module = { check, group, sleep, fail, randomSeed };
