import { tracingChannel } from "node:diagnostics_channel";
import pino, { type Logger } from "pino";

const {
  chindingsSym,
  endSym,
  formattersSym,
  hooksSym,
  lsCacheSym,
  messageKeySym,
  mixinSym,
  nestedKeySym,
  serializersSym,
  streamSym,
  stringifiersSym,
  timeSym,
  wildcardFirstSym,
} = pino.symbols;
// pino's mark on a destination that reads each line's level and object from the stream before write (multistream).
const needsMetadata = Symbol.for("pino.metadata");

// pino traces each line's serialisation on this channel when something subscribes to it (its asJson).
const asJsonChannel = tracingChannel("pino_asJson");
// Bun's TracingChannel has no `hasSubscribers` (Node ≥ 22 has): then its channels are asked one by one.
const traced = (): boolean =>
  asJsonChannel.hasSubscribers ??
  (asJsonChannel.start.hasSubscribers ||
    asJsonChannel.end.hasSubscribers ||
    asJsonChannel.asyncStart.hasSubscribers ||
    asJsonChannel.asyncEnd.hasSubscribers ||
    asJsonChannel.error.hasSubscribers);

type PinoInternals = Record<symbol, unknown>;

/** A JSON string literal for `value`, escaped as JSON.stringify escapes it (quotes, control characters, lone surrogates). */
export const jsonString = (value: string): string => JSON.stringify(value);

export type RawLineLevel = "info" | "warn" | "error";

/**
 * Writes a log line whose fields the caller serialised itself (`props`: `,"name":value…`, each value valid
 * JSON) through `logger`'s own pieces, as pino's `_asJson` joins them: the level, the time, the logger's
 * bindings, `props`, the message and the line's end, to the destination pino writes to, filtered by the
 * logger's level. For a hot fixed-shape line (a gateway's access line) this skips the object pino serialises
 * field by field. Returns undefined for a logger that changes what a line holds (formatters.log, a mixin, a
 * nested key, a streamWrite or logMethod hook, redaction, serializers beyond pino's `err`, a destination that reads
 * each line's metadata): the caller writes through pino then.
 *
 * @example
 * const raw = rawLineWriter(logger);
 * raw?.("info", `,"method":${jsonString(method)},"status":${status}`, "request");
 */
export function rawLineWriter(
  logger: Logger,
): ((level: RawLineLevel, props: string, message: string) => void) | undefined {
  const internals = logger as unknown as PinoInternals;
  const formatters = internals[formattersSym] as { log?: unknown } | undefined;
  const hooks = internals[hooksSym] as { streamWrite?: unknown; logMethod?: unknown } | undefined;
  const stringifiers = internals[stringifiersSym] as Record<string | symbol, unknown> | undefined;
  const serializers = internals[serializersSym] as Record<string, unknown> | undefined;
  const stream = internals[streamSym] as { write?: (line: string) => unknown } | undefined;
  if (
    typeof stream?.write !== "function" ||
    (stream as PinoInternals)[needsMetadata] === true ||
    formatters?.log !== undefined ||
    internals[mixinSym] ||
    internals[nestedKeySym] ||
    hooks?.streamWrite ||
    hooks?.logMethod ||
    stringifiers === undefined ||
    Object.keys(stringifiers).length > 0 ||
    stringifiers[wildcardFirstSym] !== undefined ||
    typeof internals[timeSym] !== "function" ||
    typeof internals[messageKeySym] !== "string" ||
    // pino's own `err` serializer only (a line with an `err` field takes pino's path: the caller's rule).
    Object.keys(serializers ?? {}).some((name) => name !== "err")
  )
    return undefined;
  const messageKey = jsonString(internals[messageKeySym] as string);
  const destination = stream as { write: (line: string) => unknown };
  return (level, props, message) => {
    if (!logger.isLevelEnabled(level)) return;
    // A subscriber to pino's serialisation sees this line too: pino's own path, with the fields as an object.
    if (traced()) return void logger[level](JSON.parse(`{${props.slice(1)}}`), message);
    // Read per line: a level or a binding set after this writer was made is honoured as pino would.
    const levelText = (internals[lsCacheSym] as Record<number, string>)[
      logger.levels.values[level] as number
    ];
    const time = (internals[timeSym] as () => string)();
    destination.write(
      `${levelText}${time}${internals[chindingsSym] as string}${props},${messageKey}:${jsonString(message)}${internals[endSym] as string}`,
    );
  };
}
