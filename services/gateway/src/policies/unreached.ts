import { BrokenCircuitError } from "cockatiel";
import type { UpstreamRequest } from "./types.ts";

/**
 * Codes of the errors fetch throws when it could not open a connection at all, so not a byte of the request
 * was sent: refused (Bun ≥ 1.4 and Node say `ECONNREFUSED`, Bun ≤ 1.3 `ConnectionRefused`), no socket could
 * be opened, or the name did not resolve. A reset (`ECONNRESET`) is not here: fetch does not say whether the
 * upstream had read the request before the connection closed.
 */
const NEVER_CONNECTED = new Set(["ECONNREFUSED", "ConnectionRefused", "FailedToOpenSocket", "ENOTFOUND"]);

function codeOf(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  // Bun puts the code on the error itself; Node's fetch (undici) on its cause.
  return code ?? (typeof cause === "object" && cause !== null ? cause.code : undefined);
}

/**
 * True when an attempt certainly never reached its upstream: fetch could not connect, or the breaker
 * refused the attempt without sending it. Such a request may go to another upstream whatever its method,
 * since the first one never saw it; anything else (a reset, a timeout, a 5xx) may have been processed.
 *
 * @example
 * neverReached(await fetch("http://127.0.0.1:1").catch((e) => e)) // true: connection refused
 */
export function neverReached(error: unknown): boolean {
  if (error instanceof BrokenCircuitError) return true;
  const code = codeOf(error);
  return typeof code === "string" && NEVER_CONNECTED.has(code);
}

/**
 * Whether the request can be sent again: bodiless, or a body stream the failed attempt left unread
 * (fetch locks the stream it reads; one that could not connect leaves it untouched).
 */
export function canResend(request: UpstreamRequest): boolean {
  return request.body === null || !request.body.locked;
}
