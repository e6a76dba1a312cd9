import type { HttpMetrics } from "@fig/service";
import { Registry } from "prom-client";
import { BoundCounter, BoundHistogram } from "./bound-metrics.ts";
import type { ProxyMetrics } from "./proxy/forward.ts";

/**
 * The gateway's own Prometheus metrics, per route AND upstream (canary analysis compares them), served on
 * /metrics after the HTTP ones. prom-client stays out of the request path: the proxy sees `ProxyMetrics`.
 */
// Status codes as label values, made once each (String() of a number allocates a new string every call).
const statusText: string[] = [];
function statusOf(status: number): string {
  let text = statusText[status];
  if (text === undefined) {
    text = String(status);
    statusText[status] = text;
  }
  return text;
}

export function createGatewayMetrics(): ProxyMetrics & { registry: Registry } {
  const registry = new Registry();
  const requests = new BoundCounter({
    name: "gateway_upstream_requests_total",
    help: "Requests answered by an upstream, by route, upstream, method and status",
    labelNames: ["route", "upstream", "method", "status"] as const,
    registers: [registry],
  });
  const errors = new BoundCounter({
    name: "gateway_upstream_errors_total",
    help: "Failed upstream attempts (5xx, connection error, timeout), by route, upstream and kind",
    labelNames: ["route", "upstream", "kind"] as const,
    registers: [registry],
  });
  const duration = new BoundHistogram({
    name: "gateway_upstream_duration_seconds",
    help: "Time to the upstream's response headers, by route and upstream",
    labelNames: ["route", "upstream"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const diverted = new BoundCounter({
    name: "gateway_diverted_total",
    help: "Requests sent elsewhere than their bucket said: breaker open (to the monolith), retry, read fallback",
    labelNames: ["route", "from", "to", "reason"] as const,
    registers: [registry],
  });
  const limited = new BoundCounter({
    name: "gateway_rate_limited_total",
    help: "Requests refused with 429, by route",
    labelNames: ["route"] as const,
    registers: [registry],
  });
  return {
    registry,
    observe(route, upstream, method, status, seconds) {
      requests.child(route, upstream, method, statusOf(status)).inc();
      duration.child(route, upstream).observe(seconds);
      if (status >= 500) errors.child(route, upstream, `http_${status}`).inc();
    },
    error(route, upstream, kind) {
      errors.child(route, upstream, kind).inc();
    },
    divert(route, from, to, reason) {
      diverted.child(route, from, to, reason).inc();
    },
    rateLimited(route) {
      limited.child(route).inc();
    },
  };
}

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The HTTP metrics of @fig/service's createApp (`http_requests_total`, `http_request_duration_seconds` by
 * method, route pattern and status: the same names, labels and buckets), with label-bound children: the
 * gateway observes every proxied request into them, from the Hono chain and from its fast path alike.
 */
export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  const labelNames = ["method", "route", "status"] as const;
  const requests = new BoundCounter({
    name: "http_requests_total",
    help: "HTTP requests by method, route pattern and status",
    labelNames,
    registers: [registry],
  });
  const duration = new BoundHistogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration in seconds by method, route pattern and status",
    labelNames,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    observe(method, route, status, seconds) {
      const code = statusOf(status);
      requests.child(method, route, code).inc();
      duration.child(method, route, code).observe(seconds);
    },
  };
}
