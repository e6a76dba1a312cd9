import { dirname } from "node:path";
import { createAuditRecorder } from "@fig/audit/publish";
import { runService } from "@fig/bootstrap";
import { createRouteDataReader } from "@fig/datasync/view";
import type { NatsClient } from "@fig/events";
import { createPromotionStore, promotionsBucketName, promotionViews } from "@fig/promote/records";
import { buildGateway, SERVICE } from "./app.ts";
import { ignoreRepeatedSignals, type ProcessSupervisor, superviseProcesses, watchParent } from "./cluster.ts";
import { processGroup, processGroupSubject, rateLimitShare, withProcessHeader } from "./cluster-share.ts";
import { loadConfig, processEnvironment } from "./config.ts";
import type { UpstreamDocument } from "./docs/merge.ts";
import { loadUpstreamDocuments } from "./docs/upstreams.ts";
import { createRateLimiter } from "./policies/rate-limit.ts";
import { withAudit } from "./state/audited-store.ts";
import { createKvRouteStore, routesBucketName } from "./state/kv-store.ts";

// FIG_GATEWAY_PROCESSES=N: process 0 starts the other N-1 once it listens (docs/gateway.md, "N processes").
let supervisor: ProcessSupervisor | undefined;

const started = await runService({
  service: SERVICE,
  loadConfig,
  events: {},
  build: ({ config, nats, namespace, verifier, logger, tracer, readiness, lifecycle }) => {
    // The route file was read and checked with the config: a bad one stopped the gateway with its field errors.
    const { table, upstreams } = config.routes;
    let documents: UpstreamDocument[] = [];
    // Every change to a route's live state is recorded in the audit log (JetStream, then the audit service).
    const audit = createAuditRecorder({ nats, namespace, source: "gateway", logger });
    const store = withAudit(
      createKvRouteStore({
        connection: () => nats.connection(),
        bucket: routesBucketName(namespace),
        routes: [table.defaultRoute, ...table.routes],
        logger,
      }),
      { recorder: audit, actorTenant: config.FIG_OPERATOR_TENANT },
    );
    // NATS is the control plane, not the data plane: with it down the gateway serves the last state it saw
    // (/ready says "stale since …"), so the bootstrap's NATS check must not take the gateway out of rotation.
    delete readiness.nats;
    const role = { processes: config.FIG_GATEWAY_PROCESSES, index: config.FIG_GATEWAY_PROCESS_INDEX };
    // Any of N processes answers /_fig/shadow, a route's counters and its write hold for all N (over NATS).
    const group =
      role.processes > 1
        ? processGroup({
            connection: () => nats.connection(),
            subject: processGroupSubject(namespace, role),
            role,
          })
        : undefined;
    const { app, sampler, metrics } = buildGateway({
      table,
      store,
      verifier,
      logger,
      tracer,
      readiness,
      lifecycle,
      upstreamDocuments: () => documents,
      jobs: {
        nats,
        namespace,
        queues: config.routes.file.queues ?? [],
        audit: { recorder: audit, tenant: config.FIG_OPERATOR_TENANT },
      },
      promotions: promotionsReader(nats, namespace),
      data: createRouteDataReader(nats, namespace),
      operatorTenant: config.FIG_OPERATOR_TENANT,
      audit: { url: upstreams.audit?.url },
      // Route state comes from KV and is the same in every process; rate-limit buckets are each process's own.
      limiter: rateLimitShare(createRateLimiter(), role.processes),
      processGroup: group,
    });
    if (role.processes > 1) metrics.registry.setDefaultLabels({ gateway_process: String(role.index) });
    return {
      app: role.processes > 1 ? { fetch: withProcessHeader(app.fetch, role.index) } : app,
      reusePort: role.processes > 1,
      components: [
        {
          name: "upstream OpenAPI documents",
          start: async () => {
            const specs = { upstreams, table, baseDir: dirname(config.FIG_ROUTES_FILE) };
            documents = await loadUpstreamDocuments(specs, {
              onError: (name, err) =>
                logger.warn({ err, upstream: name }, "upstream OpenAPI document left out"),
            });
          },
          stop: async () => {},
        },
        { name: "route state", start: () => store.start(), stop: () => store.stop() },
        { name: "console sampler", start: async () => sampler.start(), stop: async () => sampler.stop() },
        ...(group
          ? [{ name: "process group", start: async () => group.start(), stop: async () => group.stop() }]
          : []),
        // Stopped after HTTP drained: a last try at publishing audit entries still pending (else logged in full).
        { name: "audit recorder", start: async () => {}, stop: () => audit.stop() },
        ...processComponents(role, lifecycle, logger),
      ],
      summary: {
        bucket: routesBucketName(namespace),
        routes: table.routes.map((r) => r.id),
        ...(role.processes > 1 ? { gatewayProcess: `${role.index} of ${role.processes}` } : {}),
      },
      // Bodies stream through; the upstreams enforce their own limits (validation takes 200 MB uploads).
      maxRequestBodyBytes: config.MAX_REQUEST_BODY_BYTES,
    };
  },
});

supervisor?.start(started.port);

/**
 * Process 0 of N stops the others with itself: it passes its signal on at once, so all drain together, and
 * its shutdown waits for them (stopped first, as the last component). The others stop when it is gone.
 */
function processComponents(
  role: { processes: number; index: number },
  lifecycle: { draining: boolean },
  logger: Parameters<typeof superviseProcesses>[0]["logger"],
) {
  if (role.processes <= 1) return [];
  if (role.index > 0) {
    ignoreRepeatedSignals();
    const parentPid = process.ppid;
    let unwatch = () => {};
    return [
      {
        name: "parent watch",
        start: async () => {
          unwatch = watchParent({ parentPid, stopping: () => lifecycle.draining });
        },
        stop: async () => unwatch(),
      },
    ];
  }
  const processes = superviseProcesses({
    role,
    argv: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    env: processEnvironment(),
    logger,
  });
  supervisor = processes;
  const passOn = () => void processes.stop();
  process.once("SIGTERM", passOn);
  process.once("SIGINT", passOn);
  return [{ name: "gateway processes", start: async () => {}, stop: () => processes.stop() }];
}

/**
 * GET /_fig/promotions reads packages/promote's bucket, the same records `bun run promote status` shows;
 * POST /_fig/promotions/{route}/pause|resume|rollback changes them as `bun run promote` does.
 */
function promotionsReader(nats: { connection(): ReturnType<NatsClient["connection"]> }, namespace: string) {
  const promotions = createPromotionStore({
    connection: () => nats.connection(),
    bucket: promotionsBucketName(namespace),
  });
  return {
    bucket: promotions.bucket,
    list: (route?: string) => promotionViews(promotions, route),
    store: promotions,
  };
}
