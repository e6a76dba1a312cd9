import { Counter, Histogram, Registry } from "prom-client";
import type { ProxyMetrics } from "./proxy/forward.ts";

/**
 * The gateway's own Prometheus metrics, per route AND upstream (canary analysis compares them), served on
 * /metrics after the HTTP ones. prom-client stays out of the request path: the proxy sees `ProxyMetrics`.
 */
export function createGatewayMetrics(): ProxyMetrics & { registry: Registry } {
  const registry = new Registry();
  const requests = new Counter({
    name: "gateway_upstream_requests_total",
    help: "Requests answered by an upstream, by route, upstream, method and status",
    labelNames: ["route", "upstream", "method", "status"] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: "gateway_upstream_errors_total",
    help: "Failed upstream attempts (5xx, connection error, timeout), by route, upstream and kind",
    labelNames: ["route", "upstream", "kind"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "gateway_upstream_duration_seconds",
    help: "Time to the upstream's response headers, by route and upstream",
    labelNames: ["route", "upstream"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const diverted = new Counter({
    name: "gateway_diverted_total",
    help: "Requests sent elsewhere than their bucket said: breaker open (to the monolith), retry, read fallback",
    labelNames: ["route", "from", "to", "reason"] as const,
    registers: [registry],
  });
  const limited = new Counter({
    name: "gateway_rate_limited_total",
    help: "Requests refused with 429, by route",
    labelNames: ["route"] as const,
    registers: [registry],
  });
  return {
    registry,
    observe(route, upstream, method, status, seconds) {
      requests.inc({ route, upstream, method, status: String(status) });
      duration.observe({ route, upstream }, seconds);
      if (status >= 500) errors.inc({ route, upstream, kind: `http_${status}` });
    },
    error(route, upstream, kind) {
      errors.inc({ route, upstream, kind });
    },
    divert(route, from, to, reason) {
      diverted.inc({ route, from, to, reason });
    },
    rateLimited(route) {
      limited.inc({ route });
    },
  };
}
