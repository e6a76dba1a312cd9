import type { LiveProgress } from "./promote.ts";

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};

/** One line: step n of N, weights, elapsed, the gate's live p95 / error rate / request count. */
export function progressLine(p: LiveProgress): string {
  const step = p.step === 0 ? "shadow step" : `step ${p.step} of ${p.of}`;
  const weights = Object.entries(p.weights)
    .map(([n, w]) => `${n} ${w}%`)
    .join(" / ");
  const p95 = p.p95 === null ? "–" : `${p.p95.toFixed(1)} ms`;
  const errors = p.errorRate === null ? "–" : `${(p.errorRate * 100).toFixed(2)} %`;
  return `${step} [${weights}] ${p.phase} · elapsed ${clock(p.elapsedMs)} (step ${clock(p.stepElapsedMs)}) · p95 ${p95} · errors ${errors} · ${p.requests} requests`;
}

/** Live progress: rewritten in place on a terminal, a line every few seconds in a log. */
export function createProgressPrinter(out: NodeJS.WriteStream = process.stdout, everyMs = 2000) {
  let last = 0;
  let dirty = false;
  return {
    update(p: LiveProgress) {
      const line = progressLine(p);
      if (out.isTTY) {
        out.write(`\r\x1b[K${line}`);
        dirty = true;
      } else if (Date.now() - last >= everyMs) {
        last = Date.now();
        out.write(`${line}\n`);
      }
    },
    /** Prints a whole line (a decision) without garbling the live one. */
    log(line: string) {
      if (dirty) out.write("\r\x1b[K");
      dirty = false;
      out.write(`${line}\n`);
    },
  };
}
