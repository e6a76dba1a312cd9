import { SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "pino";
import type { HttpMetrics } from "./metrics.ts";
import { startServerSpan, traceIdOf } from "./tracing.ts";

/**
 * The route pattern that answered (`/api/codes/:code`), never the raw path, so metrics and span names
 * stay low-cardinality. After the chain ran, `routeIndex` is the last handler dispatched; middleware is
 * registered as method ALL, so an ALL there means no route answered (404).
 */
export function routePatternOf(c: Context): string {
  const route = matchedRoutes(c)[c.req.routeIndex];
  return route && route.method !== "ALL" ? route.path : "unmatched";
}

/**
 * One server span, one log line and one metrics observation per request, all by route pattern,
 * with `request_id` and `trace_id` on the request's child logger.
 */
export function observeRequests({
  logger,
  tracer,
  metrics,
}: {
  logger: Logger;
  tracer: Tracer;
  metrics: HttpMetrics;
}): MiddlewareHandler {
  return async function observeRequests(c, next) {
    const started = performance.now();
    const span = startServerSpan(tracer, c.req.raw, c.req.method);
    const traceId = traceIdOf(span);
    c.set("span", span);
    c.set("tracer", tracer);
    c.set(
      "logger",
      logger.child({ request_id: c.get("requestId"), ...(traceId ? { trace_id: traceId } : {}) }),
    );
    try {
      await next();
    } finally {
      const route = routePatternOf(c);
      const status = c.res.status;
      const seconds = (performance.now() - started) / 1000;
      span.updateName(`${c.req.method} ${route}`);
      span.setAttributes({ "http.route": route, "http.response.status_code": status });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      metrics.observe(c.req.method, route, status, seconds);
      const line = {
        method: c.req.method,
        path: c.req.path,
        route,
        status,
        duration_ms: Math.round(seconds * 10000) / 10,
      };
      // 503 is "not ready / draining": expected while a dependency starts, so a warning, not an error.
      if (status >= 500 && status !== 503) c.get("logger").error(line, "request failed");
      else if (status === 503) c.get("logger").warn(line, "request refused: not ready");
      else c.get("logger").info(line, "request");
    }
  };
}
