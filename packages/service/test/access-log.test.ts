import { afterAll, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { tracingChannel } from "node:diagnostics_channel";
import pino from "pino";
import { createLogger, isoTimeCached, jsonString, rawLineWriter } from "../src/index.ts";

/** A logger (createLogger's) whose lines are kept as written. */
function captured(level = "info") {
  const lines: string[] = [];
  const logger = createLogger({
    service: "svc",
    level,
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { logger, lines };
}

// Values a client or a route file could put in a line: quotes, backslashes, newlines and other control
// characters, non-ASCII, an astral character, a lone surrogate, something shaped like JSON.
const HOSTILE = [
  "plain",
  "",
  'a "quoted" \\ back\\slash',
  "line\nbreak\r\ttab\u0000nul\u001fus\u007fdel",
  "ünïcødé ✓ 中文 \u2028\u2029",
  "emoji 🦊",
  "lone \ud800 surrogate \udfff",
  '","level":60,"x":"',
  "x".repeat(150),
];

/** The same fields through pino's object path and through the raw writer, from the same logger. */
function both(
  logger: pino.Logger,
  lines: string[],
  fields: Record<string, string | number | boolean>,
  message: string,
) {
  const raw = rawLineWriter(logger);
  expect(raw).toBeDefined();
  let props = "";
  for (const [name, value] of Object.entries(fields))
    props += `,${jsonString(name)}:${typeof value === "string" ? jsonString(value) : value}`;
  logger.info(fields, message);
  raw?.("info", props, message);
  return lines.splice(0);
}

describe("rawLineWriter: a caller-serialised line as pino writes it", () => {
  // The clock held still: both lines of a pair carry the same `time` (isoTimeCached's text for that ms).
  beforeAll(() => setSystemTime(new Date("2026-12-07T10:00:00.123Z")));
  afterAll(() => setSystemTime());
  test("plain fields: byte for byte pino's line", () => {
    const { logger, lines } = captured();
    const fields = {
      request_id: "r-1",
      method: "GET",
      path: "/api/codes/1",
      status: 200,
      duration_ms: 1.5,
      ok: true,
    };
    const [fromPino, fromRaw] = both(logger, lines, fields, "request");
    expect(isoTimeCached()).toBe(',"time":"2026-12-07T10:00:00.123Z"');
    expect(fromRaw).toBe(fromPino as string);
    expect(fromRaw?.endsWith("}\n")).toBe(true);
  });

  test("hostile values in fields, bindings and the message: the same JSON object as pino's line", () => {
    for (const value of HOSTILE) {
      const { logger: base, lines } = captured();
      const logger = base.child({ request_id: value, [value]: "bound" });
      const [fromPino, fromRaw] = both(logger, lines, { path: value, [`k${value}`]: value, n: 3 }, value);
      const a = JSON.parse(fromPino as string);
      const b = JSON.parse(fromRaw as string);
      expect(b).toEqual(a);
      expect(Object.keys(b)).toEqual(Object.keys(a));
      expect(b.path).toBe(value);
      expect(b.msg).toBe(value);
      expect(b.level).toBe(30);
      // One line, whatever the value held.
      expect((fromRaw as string).indexOf("\n")).toBe((fromRaw as string).length - 1);
      // pino escapes only quotes and backslashes in a short string; JSON.stringify also escapes a lone
      // surrogate (\ud800), which is the same string once parsed. Otherwise the bytes are pino's.
      if (!/[\ud800-\udfff]/.test(value)) {
        expect(fromRaw).toBe(fromPino as string);
      }
    }
  });

  test("levels: a line below the logger's level is not written; warn and error are, at their level", () => {
    const warnOnly = captured("warn");
    const raw = rawLineWriter(warnOnly.logger);
    raw?.("info", ',"a":1', "request");
    expect(warnOnly.lines).toEqual([]);
    raw?.("warn", ',"a":1', "refused");
    raw?.("error", ',"a":1', "failed");
    expect(warnOnly.lines.map((l) => JSON.parse(l).level)).toEqual([40, 50]);
    const silent = captured("silent");
    rawLineWriter(silent.logger)?.("error", ',"a":1', "failed");
    expect(silent.lines).toEqual([]);
    // A level changed after the writer was made is honoured.
    warnOnly.logger.level = "info";
    raw?.("info", ',"a":1', "request");
    expect(warnOnly.lines.map((l) => JSON.parse(l).level)).toEqual([40, 50, 30]);
  });

  test("a subscriber to pino's asJson tracing channel sees the raw writer's lines too", () => {
    const { logger, lines } = captured();
    const seen: unknown[] = [];
    const handlers = { start: (store: unknown) => void seen.push(store) };
    const channel = tracingChannel("pino_asJson");
    channel.subscribe(handlers as never);
    try {
      rawLineWriter(logger)?.("info", ',"path":"/a\\"b","status":200', "request");
    } finally {
      channel.unsubscribe(handlers as never);
    }
    expect(seen.length).toBe(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ path: '/a"b', status: 200, msg: "request" });
  });

  test("a logger that changes what a line holds gets no writer (its caller logs through pino)", () => {
    const sink = { write: () => {} };
    const refused: [string, pino.Logger][] = [
      ["redaction", pino({ redact: ["path"] }, sink)],
      ["a serializer", pino({ serializers: { path: () => "x" } }, sink)],
      ["a mixin", pino({ mixin: () => ({ extra: 1 }) }, sink)],
      ["formatters.log", pino({ formatters: { log: (o) => o } }, sink)],
      ["a nested key", pino({ nestedKey: "payload" }, sink)],
      ["a streamWrite hook", pino({ hooks: { streamWrite: (s) => s } }, sink)],
      [
        "a logMethod hook",
        pino({ hooks: { logMethod: (args, method) => method.apply(pino(), args) } }, sink),
      ],
      ["a multistream", pino({}, pino.multistream([{ stream: sink }]))],
    ];
    for (const [what, logger] of refused)
      expect({ what, writer: rawLineWriter(logger) }).toEqual({ what, writer: undefined });
    expect(rawLineWriter(pino({}, sink))).toBeDefined();
  });
});
