import pino from "pino";

/** A pino logger whose lines land in an array, so tests can read what was logged. */
export function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "info", base: { service: "test" } },
    {
      write(chunk: string) {
        lines.push(JSON.parse(chunk));
      },
    },
  );
  return { logger, lines };
}
