import { createLogger } from "@fig/service";
import { createTestAuth } from "@fig/testing";
import type { Context } from "hono";
import { buildGateway, type GatewayDeps } from "../src/app.ts";
import type { UpstreamRequest } from "../src/policies/types.ts";
import type { RouteTable } from "../src/routes.ts";
import { createMemoryRouteStore } from "../src/state/memory-store.ts";
import type { RouteStateStore } from "../src/state/types.ts";
import { routeTable } from "./fixtures/dash-routes.ts";

export const auth = createTestAuth();
export const silent = createLogger({ service: "gateway-test", level: "silent" });

/** A real HTTP upstream on a free port: echoes who it is, what it got, and counts requests. */
export function startEchoUpstream(
  name: string,
  handler?: (request: Request) => Response | Promise<Response>,
) {
  const received: { method: string; path: string; headers: Record<string, string> }[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      received.push({
        method: request.method,
        path: url.pathname + url.search,
        headers: Object.fromEntries(request.headers),
      });
      if (handler) return handler(request);
      const body = request.body ? (await request.arrayBuffer()).byteLength : 0;
      return Response.json({
        upstream: name,
        path: url.pathname + url.search,
        method: request.method,
        bodyBytes: body,
      });
    },
  });
  return { name, url: `http://127.0.0.1:${server.port}`, received, stop: () => server.stop(true) };
}

export type TestGatewayOptions = Partial<Omit<GatewayDeps, "table" | "store">> & {
  urls?: { monolith: string; referenceData: string; validation: string };
  table?: RouteTable;
  store?: RouteStateStore;
  perMinute?: number;
};

/** The gateway app over a table whose upstream URLs are given (default: nothing listening, for `send` tests). */
export function testGateway(options: TestGatewayOptions = {}) {
  const urls = options.urls ?? {
    monolith: "http://127.0.0.1:9",
    referenceData: "http://127.0.0.1:9",
    validation: "http://127.0.0.1:9",
  };
  const table = options.table ?? routeTable({ urls, perMinute: options.perMinute ?? 1_000_000 });
  const store = options.store ?? createMemoryRouteStore([table.defaultRoute, ...table.routes]);
  const gateway = buildGateway({ verifier: auth.verifier, logger: silent, ...options, table, store });
  return { ...gateway, table, store };
}

/** A client address from a test header, so in-process requests can be many consumers. */
export const ipFromHeader = (c: Context) => c.req.header("x-test-client") ?? "198.51.100.1";

/** An in-process `send` that answers with the upstream's name: the whole pipeline but the socket. */
export const nameSend = async (upstream: string, request: UpstreamRequest) =>
  Response.json({ upstream, method: request.method, path: new URL(request.url).pathname });

export async function bearer(options: Parameters<typeof auth.token>[0] = {}) {
  return { authorization: `Bearer ${await auth.token(options)}` };
}

/** The operator tenant the test gateways use (buildGateway's default, FIG_OPERATOR_TENANT's too). */
export const OPERATOR_TENANT = "platform";

/** Headers with an operator's token: role operator in the operator tenant (the only callers of /_fig). */
export function operator(sub = "test-operator") {
  return bearer({ sub, tenant: OPERATOR_TENANT, roles: ["operator"] });
}

/** Polls `check` until it returns true or the deadline passes (a generous one: machines differ in speed). */
export async function until(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}
