import pino, { type DestinationStream, type Logger } from "pino";
import type { PrettyOptions } from "pino-pretty";

export type LoggerOptions = {
  service: string;
  level?: string;
  pretty?: boolean;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Pretty mode only: ANSI colours (default true; the dev runner keeps them when it prefixes lines). */
  colors?: boolean;
};

type LogRecord = Record<string, unknown>;

// Fields the one-line request format shows itself; pino-pretty must not print them again below it.
const shownInMessage = ["method", "path", "route", "status", "duration_ms", "request_id", "trace_id"];
const WARN = 40;

/**
 * One line per request, `GET /api/codes 200 1.2ms req=…`: pino-pretty otherwise prints one line per
 * field. Warnings and errors keep the route, the trace id and (below, from pino-pretty) the error.
 */
export function prettyMessage(log: LogRecord, messageKey: string): string {
  const detailed = typeof log.level === "number" && log.level >= WARN;
  const parts: string[] = [];
  if (typeof log.method === "string" && typeof log.status === "number") {
    parts.push(`${log.method} ${log.path ?? log.route} ${log.status} ${log.duration_ms}ms`);
    if (detailed) parts.push(`(${log[messageKey]}; route ${log.route})`);
  } else {
    parts.push(String(log[messageKey] ?? ""));
    // Not a request line: the ignored names are ordinary fields here, so they must still show.
    for (const key of ["method", "path", "route", "status", "duration_ms"])
      if (log[key] !== undefined) parts.push(`${key}=${JSON.stringify(log[key])}`);
  }
  if (log.request_id !== undefined) parts.push(`req=${log.request_id}`);
  if (detailed && log.trace_id !== undefined) parts.push(`trace=${log.trace_id}`);
  return parts.join(" ");
}

/**
 * pino's `stdTimeFunctions.isoTime` (`,"time":"<ISO 8601>"`), made once per millisecond: a busy service writes
 * several lines in the same millisecond (a gateway's access log at 10k requests/s), and a Date plus its
 * toISOString per line was ≈ 5 % of the gateway's JavaScript per request.
 */
let timeAt = -1;
let timeText = "";
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== timeAt) {
    timeAt = now;
    timeText = `,"time":"${new Date(now).toISOString()}"`;
  }
  return timeText;
}

/**
 * JSON lines (pino) in production; human-readable lines when `pretty` (dev only).
 * Pretty printing runs in-process (no worker thread) so it behaves the same under Bun.
 *
 * @example
 * const logger = createLogger({ service: "reference-data", pretty: config.LOG_PRETTY });
 */
export function createLogger({
  service,
  level = "info",
  pretty: isPretty = false,
  destination,
  colors = true,
}: LoggerOptions): Logger {
  const options = { level, base: { service }, timestamp: isoTimeCached };
  if (!isPretty) return destination ? pino(options, destination) : pino(options);
  // Loaded only when asked for: it is development-only and costs ~150 ms of start-up.
  const pretty = require("pino-pretty") as typeof import("pino-pretty");
  const prettyOptions: PrettyOptions = {
    colorize: colors,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: ["pid", "hostname", "service", ...shownInMessage].join(","),
    messageFormat: prettyMessage,
    singleLine: true, // other fields (`port`, `database`…) stay on the line as JSON; `err` keeps its stack
    ...(destination ? { destination } : {}),
  };
  return pino(options, pretty(prettyOptions));
}

export type { Logger };
