import { BrokenCircuitError } from "cockatiel";
import type { UpstreamRequest } from "./types.ts";

/**
 * Codes of the errors fetch throws when it could not open a connection: refused (Bun ≥ 1.4 and Node say
 * `ECONNREFUSED`, Bun ≤ 1.3 `ConnectionRefused`), no socket could be opened, or the name did not resolve.
 * A reset (`ECONNRESET`) is not here: fetch does not say whether the upstream had read the request.
 */
const NEVER_CONNECTED = new Set(["ECONNREFUSED", "ConnectionRefused", "FailedToOpenSocket", "ENOTFOUND"]);

/**
 * Methods fetch sends again by itself, on a new connection, when a reused keep-alive connection closes before
 * the answer (Bun's fetch does it for these, not for POST or PATCH; undici does the same). For them a refused
 * connection may be the end of a request the upstream had already read, so a refusal proves nothing.
 */
const REPLAYED_BY_FETCH = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

function codeOf(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  // Bun puts the code on the error itself; Node's fetch (undici) on its cause.
  return code ?? (typeof cause === "object" && cause !== null ? cause.code : undefined);
}

/**
 * True when an attempt certainly never reached its upstream: the breaker refused it without sending it, or
 * fetch could not connect for a method fetch never replays (POST, PATCH). Such a request may go to another
 * upstream whatever its method, since the first one never saw it. Anything else may have been read: a
 * reset, a timeout, a 5xx, and a refusal of an idempotent request (fetch's own replay after a kept-alive
 * connection closed ends the same way); those keep the budgeted retry.
 *
 * @example
 * neverReached(await fetch("http://127.0.0.1:1", { method: "POST" }).catch((e) => e), "POST") // true
 */
export function neverReached(error: unknown, method: string): boolean {
  if (error instanceof BrokenCircuitError) return true;
  if (REPLAYED_BY_FETCH.has(method.toUpperCase())) return false;
  const code = codeOf(error);
  return typeof code === "string" && NEVER_CONNECTED.has(code);
}

/** A request whose body the first attempt reads only when fetch pulls it (see `sendableAgain`). */
export type FirstSend = {
  request: UpstreamRequest;
  /** True while the original body is unread and unlocked: it can still go to another upstream whole. */
  untouched(): boolean;
};

/**
 * Wraps the request's body for a first attempt that may have to go elsewhere: fetch gets a stream that
 * reads the original only when pulled. A buffered body handed to fetch as is is taken (locked) even when the
 * connection is refused; through the wrapper a refused attempt leaves the original unread, to be sent to
 * another upstream, and any attempt that read a byte of it marks it used for good.
 *
 * @example
 * const first = sendableAgain(request);
 * const outcome = await attempt(candidate, first.request);
 * if (neverReached(outcome.error) && first.untouched()) await attempt(monolith, request);
 */
export function sendableAgain(request: UpstreamRequest): FirstSend {
  const body = request.body;
  if (body === null) return { request, untouched: () => true };
  let reader: ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>> | undefined;
  const lazy = new ReadableStream<Uint8Array<ArrayBuffer>>(
    {
      async pull(controller) {
        reader ??= body.getReader();
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      // Cancelled before a byte was read (the attempt failed): the original stays whole for the next upstream.
      cancel: (reason) => reader?.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  const { method, url, headers } = request;
  return {
    request: { method, url, headers, body: lazy },
    untouched: () => reader === undefined && !body.locked,
  };
}
