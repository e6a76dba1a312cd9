/**
 * The two Bun proxies bench/gateway.ts measures beside the gateway (run as their own process):
 *
 *   MODE=bare  — `Bun.serve` whose fetch handler forwards with `fetch(target + path, request)`: the floor any
 *                Bun proxy pays (no routing, no auth, headers passed as they are).
 *   MODE=hono  — a Hono app with one `app.all("*")` route calling `proxy()` from `hono/proxy`.
 *
 *   MODE=bare PORT=9001 TARGET=http://127.0.0.1:9000 bun bench/lib/bun-proxies.ts
 */
import { join, resolve } from "node:path";
import type * as HonoProxy from "../../packages/service/node_modules/hono/dist/types/helper/proxy/index.d.ts";
// Types only: hono is resolved at run time from a workspace package that depends on it (see honoFetch).
import type * as HonoModule from "../../packages/service/node_modules/hono/dist/types/index.d.ts";

const ROOT = resolve(import.meta.dir, "../..");

async function honoFetch(target: string): Promise<(request: Request) => Response | Promise<Response>> {
  // hono is a dependency of the workspace packages, not of the root: resolve it from one that has it.
  const from = join(ROOT, "packages/service/package.json");
  const { Hono } = (await import(Bun.resolveSync("hono", from))) as typeof HonoModule;
  const { proxy } = (await import(Bun.resolveSync("hono/proxy", from))) as typeof HonoProxy;
  const app = new Hono();
  app.all("*", (c) => {
    const url = new URL(c.req.url);
    return proxy(`${target}${url.pathname}${url.search}`, { ...c.req, headers: c.req.header() });
  });
  return app.fetch;
}

function bareFetch(target: string): (request: Request) => Promise<Response> {
  return (request) => {
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    return fetch(`${target}${path}`, request);
  };
}

if (import.meta.main) {
  const target = process.env.TARGET ?? "";
  const mode = process.env.MODE;
  if (!target || (mode !== "bare" && mode !== "hono")) {
    console.error("bun-proxies: set MODE=bare|hono and TARGET=http://host:port");
    process.exit(2);
  }
  const handler = mode === "hono" ? await honoFetch(target) : bareFetch(target);
  const server = Bun.serve({
    port: Number(process.env.PORT),
    hostname: "127.0.0.1",
    maxRequestBodySize: 4 * 1024 ** 3,
    fetch: handler,
  });
  console.log(JSON.stringify({ msg: "listening", mode, port: server.port }));
  // Exit through process.exit on SIGTERM, so `bun --cpu-prof-md` writes its profile.
  process.on("SIGTERM", () => {
    void server.stop(true);
    process.exit(0);
  });
}
