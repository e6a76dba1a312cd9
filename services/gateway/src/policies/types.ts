/**
 * The contract between the proxy pipeline and the resilience/shadow policies.
 * Web-standard types only: the request path must run on any fetch runtime.
 */

/** The name of an upstream as declared in the route table (`monolith`, `validation`, ...). */
export type UpstreamName = string;

/**
 * What an attempt sends: the parts of a Request a `send` reads. The proxy passes a plain object (a Request
 * of its own would cost ≈ 1 µs a request and is never needed); anything that is a Request fits too.
 */
export type UpstreamRequest = Pick<Request, "method" | "url" | "headers" | "body">;

/** One attempt at an upstream: web-standard fetch of a prepared request. */
export type SendFn = (
  upstream: UpstreamName,
  request: UpstreamRequest,
  signal: AbortSignal,
) => Promise<Response>;

/** What one attempt produced: a response, or the error fetch threw (connection refused, reset, abort). */
export type Outcome = { upstream: UpstreamName; response?: Response; error?: unknown };
