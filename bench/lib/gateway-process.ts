/**
 * A gateway process for bench/dead-candidate.ts: the gateway app of the checkout at `<gateway-dir>` (this
 * one, or an older commit in a git worktree), in-memory route state with reference-data at 50/50, a high
 * rate limit, dev-secret tokens, on a free port. Its stdout is JSON lines: `{"port":…}` once it listens,
 * then `{"breaker":{"upstream","to","at"}}` on every breaker change (`at`: Date.now(), the same clock as the
 * bench's). Only files that exist in every version of the gateway are imported.
 *
 * Usage: bun bench/lib/gateway-process.ts <gateway-dir> <monolith-url> <candidate-url> <dev-secret>
 */
import { resolve } from "node:path";

const [dir, monolithUrl, candidateUrl, secret] = Bun.argv.slice(2);
if (!dir || !monolithUrl || !candidateUrl || !secret) {
  console.error(
    "usage: bun bench/lib/gateway-process.ts <gateway-dir> <monolith-url> <candidate-url> <secret>",
  );
  process.exit(2);
}
const root = resolve(dir);
const repo = resolve(root, "../..");

const { buildGateway } = await import(`${root}/src/app.ts`);
const { routeTable } = await import(`${root}/src/routes.ts`);
const { createMemoryRouteStore } = await import(`${root}/src/state/memory-store.ts`);
const { createBreakers } = await import(`${root}/src/policies/breaker.ts`);
const { createTokenVerifier, DEFAULT_AUDIENCE, DEFAULT_ISSUER } = await import(
  `${repo}/packages/auth/src/index.ts`
);
const { createLogger } = await import(`${repo}/packages/service/src/index.ts`);

const table = routeTable({
  urls: { monolith: monolithUrl, referenceData: candidateUrl, validation: monolithUrl },
  perMinute: 1_000_000_000,
});
const store = createMemoryRouteStore([table.defaultRoute, ...table.routes]);
await store.change(
  "reference-data",
  { kind: "weights", weights: { monolith: 50, "reference-data": 50 } },
  { who: "bench", why: "dead candidate" },
);
const breakers = createBreakers();
breakers.onStateChange(({ upstream, to }: { upstream: string; to: string }) =>
  console.log(JSON.stringify({ breaker: { upstream, to, at: Date.now() } })),
);
const { app } = buildGateway({
  table,
  store,
  breakers,
  verifier: createTokenVerifier({ issuer: DEFAULT_ISSUER, audience: DEFAULT_AUDIENCE, devSecret: secret }),
  logger: createLogger({ service: "gateway-bench", level: "silent" }),
});
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (request, srv) => app.fetch(request, srv),
});
console.log(JSON.stringify({ port: server.port }));
