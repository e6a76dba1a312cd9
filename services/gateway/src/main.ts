import { dirname } from "node:path";
import { createAuditRecorder } from "@fig/audit/publish";
import { runService } from "@fig/bootstrap";
import { createRouteDataReader } from "@fig/datasync/view";
import type { NatsClient } from "@fig/events";
import { createPromotionStore, promotionsBucketName, promotionViews } from "@fig/promote/records";
import { buildGateway, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import type { UpstreamDocument } from "./docs/merge.ts";
import { loadUpstreamDocuments } from "./docs/upstreams.ts";
import { withAudit } from "./state/audited-store.ts";
import { createKvRouteStore, routesBucketName } from "./state/kv-store.ts";

await runService({
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
    const { app, sampler } = buildGateway({
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
    });
    return {
      app,
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
        // Stopped after HTTP drained: a last try at publishing audit entries still pending (else logged in full).
        { name: "audit recorder", start: async () => {}, stop: () => audit.stop() },
      ],
      summary: { bucket: routesBucketName(namespace), routes: table.routes.map((r) => r.id) },
      // Bodies stream through; the upstreams enforce their own limits (validation takes 200 MB uploads).
      maxRequestBodyBytes: config.MAX_REQUEST_BODY_BYTES,
    };
  },
});

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
