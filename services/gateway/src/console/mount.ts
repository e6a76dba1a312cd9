import type { TokenVerifier } from "@fig/auth";
import type { Logger } from "@fig/service";
import type { Hono } from "hono";
import type { Registry } from "prom-client";
import type { JobsSource } from "../admin/jobs.ts";
import type { PromotionsReader } from "../admin/promotions.ts";
import type { Breakers } from "../policies/breaker.ts";
import type { Shadow } from "../policies/shadow/mirror.ts";
import type { RouteTable } from "../routes.ts";
import type { RouteStateStore } from "../state/types.ts";
import { type AuditSource, adminApiAudit } from "./audit.ts";
import { adminApiDataStatus, type DataStatusSource } from "./data-status.ts";
import { consoleRouter } from "./index.ts";
import { CONSOLE_PATH } from "./page.tsx";
import { adminApiPromotions, type PromotionsSource, promotionsOf } from "./promotions.ts";
import { createConsoleSampler } from "./sampler.ts";
import { createConsoleSources } from "./sources.ts";

export type ConsoleOptions = {
  /** How often the metrics time series is sampled (default 5 s). */
  sampleMs?: number;
  /** How often an open console re-renders everything (default 1 s; route and breaker changes at once). */
  tickMs?: number;
  /** Override where promotions / sync status come from (default: the admin API, in-process, when it has them). */
  promotions?: PromotionsSource;
  data?: DataStatusSource;
  devTokenHint?: string;
};

/** The gateway app, as far as the console needs it (createApp's OpenAPIHono). */
type HostApp = {
  routes: { method: string; path: string }[];
  request(path: string, init?: RequestInit): Response | Promise<Response>;
  route(path: string, app: Hono): unknown;
};

export type MountConsoleDeps = ConsoleOptions & {
  table: RouteTable;
  store: RouteStateStore;
  verifier: TokenVerifier;
  /** The tenant whose `operator` tokens may read the console (FIG_OPERATOR_TENANT). */
  operatorTenant: string;
  breakers?: Breakers;
  shadow?: Shadow;
  registry: Registry;
  jobs?: JobsSource;
  /** packages/promote's records, as GET /_fig/promotions reads them (both for operators only). */
  promotionsReader?: PromotionsReader | undefined;
  logger?: Logger;
};

/**
 * Mounts `/_fig/console` on the gateway app (before the admin router: the console checks its own token, an
 * operator's, as the admin API's guard does). Promotions and sync status are read through the app's own admin API with the
 * user's token, once those operations exist. Returns the sampler: start and stop it with the gateway.
 */
export function mountConsole(app: HostApp, deps: MountConsoleDeps) {
  const sampler = createConsoleSampler({
    registry: deps.registry,
    legacy: deps.table.defaultRoute.upstreams[0]?.name,
    intervalMs: deps.sampleMs ?? 5000,
  });
  const has = (path: string) => app.routes.some((r) => r.method === "GET" && r.path === path);
  const request = (path: string, init: RequestInit) => app.request(path, init);
  const viaApi =
    (path: string, source: PromotionsSource | DataStatusSource | AuditSource) =>
    async (authorization: string) =>
      has(path) ? source(authorization) : null;
  const sources = createConsoleSources({
    table: deps.table,
    store: deps.store,
    breakers: deps.breakers,
    shadow: deps.shadow,
    sampler,
    jobs: deps.jobs,
    // packages/promote's records straight from the reader; else through the admin API with the operator's token.
    promotions:
      deps.promotions ??
      (deps.promotionsReader
        ? readerPromotions(deps.promotionsReader, deps.table)
        : (viaApi("/_fig/promotions", adminApiPromotions(request)) as PromotionsSource)),
    data: deps.data ?? (viaApi("/_fig/data", adminApiDataStatus(request)) as DataStatusSource),
    audit: viaApi("/_fig/audit", adminApiAudit(request)) as AuditSource,
  });
  app.route(
    CONSOLE_PATH,
    consoleRouter({
      sources,
      verifier: deps.verifier,
      operatorTenant: deps.operatorTenant,
      logger: deps.logger,
      adminOperations: () => app.routes,
      tickMs: deps.tickMs,
      devTokenHint: deps.devTokenHint,
    }),
  );
  return { sampler, sources };
}

/** Every promotion of every route of the table (past ones too), newest first. */
const readerPromotions =
  (reader: PromotionsReader, table: RouteTable): PromotionsSource =>
  async () =>
    promotionsOf({
      promotions: (await Promise.all(table.routes.map((r) => reader.list(r.id)))).flat(),
    });
