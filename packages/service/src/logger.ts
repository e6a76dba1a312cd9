import pino, { type Logger } from "pino";

export type LoggerOptions = { service: string; level?: string; pretty?: boolean };

/**
 * JSON lines (pino) in production; human-readable lines when `pretty` (dev only).
 * Pretty printing runs in-process (no worker thread) so it behaves the same under Bun.
 *
 * @example
 * const logger = createLogger({ service: "reference-data", pretty: config.LOG_PRETTY });
 */
export function createLogger({ service, level = "info", pretty: isPretty = false }: LoggerOptions): Logger {
  const options = { level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!isPretty) return pino(options);
  // Loaded only when asked for: it is development-only and costs ~150 ms of start-up.
  const pretty = require("pino-pretty") as typeof import("pino-pretty");
  return pino(
    options,
    pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" }),
  );
}

export type { Logger };
