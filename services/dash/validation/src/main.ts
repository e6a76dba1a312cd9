import { createServiceTokenSource } from "@fig/auth";
import { runService } from "@fig/bootstrap";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import { createFileStore } from "./domain/object-store.ts";
import { createReferenceModelSeeder, type ReferenceSource } from "./domain/reference-model.ts";
import { createReferenceSync } from "./events.ts";
import { createValidationWorker } from "./worker/worker.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  events: { relay: true },
  build: ({ config, database, nats, namespace, verifier, logger, tracer, readiness, lifecycle }) => {
    const store = createFileStore(nats, namespace);
    // The read model of reference data: seeded from the reference-data API (retrying in the background while
    // it is unreachable), then kept current by reference.changed events.
    const source: ReferenceSource = {
      url: config.REFERENCE_DATA_URL,
      token: config.REFERENCE_DATA_TOKEN,
      // With AUTH_TOKEN_URL, AUTH_CLIENT_ID and AUTH_CLIENT_SECRET set: identity's service tokens.
      tokenSource: config.auth.client
        ? createServiceTokenSource({ ...config.auth.client, scope: "reference:export" })
        : undefined,
      dev: config.auth.devSecret
        ? { secret: config.auth.devSecret, issuer: config.auth.issuer, audience: config.auth.audience }
        : undefined,
    };
    const seeder = createReferenceModelSeeder({ db: database.db, source, logger });
    const referenceSync = createReferenceSync({ database, nats, namespace, logger, source });
    const runWorker = config.WORKER === "on" || config.workerOnly;
    const worker = createValidationWorker({
      db: database.db,
      store,
      nats,
      namespace,
      logger,
      progressEveryRows: config.WORKER_PROGRESS_EVERY_ROWS,
      ackWaitMs: config.WORKER_ACK_WAIT_MS,
      maxDeliver: config.WORKER_MAX_DELIVER,
    });
    return {
      app: buildApp({
        db: database.db,
        store,
        verifier,
        config,
        logger,
        tracer,
        readiness: { ...readiness, "reference-data": () => seeder.check() },
        lifecycle,
        // --worker-only still answers /health, /ready and /metrics, so an orchestrator can probe it.
        api: !config.workerOnly,
      }),
      components: [
        seeder,
        { name: "reference sync", start: () => referenceSync.start(), stop: () => referenceSync.stop() },
        ...(runWorker
          ? [{ name: "validation worker", start: () => worker.start(), stop: () => worker.stop() }]
          : []),
      ],
      summary: { worker: runWorker ? "on" : "off", workerOnly: config.workerOnly },
      // The upload route enforces MAX_UPLOAD_BYTES itself (413 problem+json); the server only must not stop
      // it first. 1 MiB on top for a multipart envelope.
      maxRequestBodyBytes: config.MAX_UPLOAD_BYTES + 1024 * 1024,
    };
  },
});
