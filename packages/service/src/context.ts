import type { Span, Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";

declare module "hono" {
  interface ContextVariableMap {
    /** The request id: the caller's `x-request-id` when it is safe, else a generated one. */
    requestId: string;
    /** The request's own child logger carrying `request_id` and `trace_id` (handlers may `setBindings` on it). */
    logger: Logger;
    /** The server span of this request. */
    span: Span;
    /** The tracer of the app, for child spans (outbound calls). */
    tracer: Tracer;
  }
}
