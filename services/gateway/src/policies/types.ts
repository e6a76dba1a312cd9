/**
 * The contract between the proxy pipeline and the resilience/shadow policies.
 * Web-standard types only: the request path must run on any fetch runtime.
 */

/** The name of an upstream as declared in the route table (`monolith`, `validation`, ...). */
export type UpstreamName = string;

/** One attempt at an upstream: web-standard fetch of a prepared Request. */
export type SendFn = (upstream: UpstreamName, request: Request, signal: AbortSignal) => Promise<Response>;

/** What one attempt produced: a response, or the error fetch threw (connection refused, reset, abort). */
export type Outcome = { upstream: UpstreamName; response?: Response; error?: unknown };
