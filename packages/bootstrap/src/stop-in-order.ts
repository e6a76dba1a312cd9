import type { Logger } from "pino";

export type StopStep = { name: string; stop(): Promise<void> | void };

export type StopReport = { stopped: string[]; failed: string[]; abandoned: string[] };

/**
 * Runs the stop steps one after another, all within one deadline: a step that fails is logged and the next
 * runs; a step still running at the deadline is abandoned (named in the log) and the rest are skipped only
 * if no time is left. The caller exits after, so nothing can hold the process past its grace period.
 *
 * @example
 * const report = await stopInOrder([{ name: "worker", stop: () => worker.stop() }], { deadline: Date.now() + 5000, logger });
 */
export async function stopInOrder(
  steps: StopStep[],
  { deadline, logger }: { deadline: number; logger: Pick<Logger, "warn" | "error" | "debug"> },
): Promise<StopReport> {
  const report: StopReport = { stopped: [], failed: [], abandoned: [] };
  for (const step of steps) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      report.abandoned.push(step.name);
      continue;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outOfTime = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), remaining);
    });
    try {
      const outcome = await Promise.race([
        Promise.resolve(step.stop()).then(() => "stopped" as const),
        outOfTime,
      ]);
      if (outcome === "timeout") {
        report.abandoned.push(step.name);
        logger.warn(
          { component: step.name },
          `${step.name} did not stop before the shutdown deadline; abandoned`,
        );
      } else {
        report.stopped.push(step.name);
        logger.debug({ component: step.name }, `${step.name} stopped`);
      }
    } catch (error) {
      report.failed.push(step.name);
      logger.error({ err: error, component: step.name }, `${step.name} failed to stop`);
    } finally {
      clearTimeout(timer);
    }
  }
  return report;
}
