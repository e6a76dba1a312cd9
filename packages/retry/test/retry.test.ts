import { describe, expect, test } from "bun:test";
import { abortableSleep, backoffDelayMs, constantBackoff, retry } from "../src/index.ts";

describe("backoffDelayMs", () => {
  test("grows by the factor and stops at the cap", () => {
    const b = { initialMs: 200, maxMs: 15_000, factor: 5 };
    expect([1, 2, 3, 4, 5, 100].map((n) => backoffDelayMs(b, n))).toEqual([
      200, 1000, 5000, 15_000, 15_000, 15_000,
    ]);
  });
  test("doubles by default; attempt 0 or less counts as the first", () => {
    const b = { initialMs: 1000, maxMs: 30_000 };
    expect([0, 1, 2, 5, 6].map((n) => backoffDelayMs(b, n))).toEqual([1000, 1000, 2000, 16_000, 30_000]);
  });
  test("huge attempt counts stay finite", () => {
    expect(backoffDelayMs({ initialMs: 1, maxMs: 10 }, 10_000)).toBe(10);
  });
  test("constantBackoff never grows", () => {
    expect([1, 2, 9].map((n) => backoffDelayMs(constantBackoff(50), n))).toEqual([50, 50, 50]);
  });
});

describe("retry", () => {
  test("retries until the attempt succeeds, reporting each failure with its delay", async () => {
    const seen: { attempt: number; delayMs: number }[] = [];
    const result = await retry(
      async (_signal, n) => {
        if (n < 3) throw new Error(`fail ${n}`);
        return n;
      },
      {
        backoff: { initialMs: 1, maxMs: 4 },
        onRetry: ({ attempt, delayMs }) => seen.push({ attempt, delayMs }),
      },
    );
    expect(result).toBe(3);
    expect(seen).toEqual([
      { attempt: 1, delayMs: 1 },
      { attempt: 2, delayMs: 2 },
    ]);
  });

  test("gives up after maxAttempts with the last error", async () => {
    let calls = 0;
    const failing = retry(
      async () => {
        calls++;
        throw new Error(`fail ${calls}`);
      },
      { backoff: constantBackoff(1), maxAttempts: 3 },
    );
    await expect(failing).rejects.toThrow("fail 3");
    expect(calls).toBe(3);
  });

  test("an abort during the wait ends the retries at once, without another attempt", async () => {
    const stop = new AbortController();
    let calls = 0;
    const running = retry(
      async () => {
        calls++;
        throw new Error("down");
      },
      // An hour between attempts: only the abort can end this promise before the test's timeout.
      {
        backoff: constantBackoff(3_600_000),
        signal: stop.signal,
        onRetry: () => stop.abort(new Error("stopping")),
      },
    );
    await expect(running).rejects.toThrow("stopping");
    expect(calls).toBe(1);
  });

  test("the attempt in flight receives the signal", async () => {
    const stop = new AbortController();
    const running = retry(
      (signal) =>
        new Promise<never>((_, reject) => {
          signal.addEventListener("abort", () => reject(new Error("attempt cancelled")));
          stop.abort(new Error("stopping"));
        }),
      { backoff: constantBackoff(1), signal: stop.signal },
    );
    await expect(running).rejects.toThrow("stopping");
  });

  test("abortableSleep rejects at once on an aborted signal and resolves otherwise", async () => {
    await expect(abortableSleep(3_600_000, AbortSignal.abort(new Error("gone")))).rejects.toThrow("gone");
    await expect(abortableSleep(0)).resolves.toBeUndefined();
  });
});
