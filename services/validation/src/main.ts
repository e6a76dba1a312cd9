import { createTokenVerifier } from "@fig/auth";
import { databaseOptions, openMigratedDatabase } from "@fig/db";
import { createNatsClient, createOutboxRelay } from "@fig/events";
import { createLifecycle, createLogger, loadConfigOrExit, serveApp, setupTracing } from "@fig/service";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import { createFileStore } from "./domain/object-store.ts";
import { type ReferenceSource, referenceModelReady, syncReferenceData } from "./domain/reference-model.ts";
import { createReferenceSync } from "./events.ts";
import { createValidationWorker } from "./worker/worker.ts";

const started = performance.now();
const config = loadConfigOrExit(SERVICE.name, () => loadConfig());

const logger = createLogger({ service: SERVICE.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const tracing = setupTracing({ serviceName: SERVICE.name, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
const database = await openMigratedDatabase({
  service: SERVICE.name,
  ...databaseOptions(config),
  migrationsFolder: new URL("../drizzle", import.meta.url).pathname,
  logger,
}).catch((error) => {
  logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
});

const nats = createNatsClient({ servers: config.NATS_URL, name: SERVICE.name, logger });
const store = createFileStore(nats, config.FIG_NAMESPACE);
const relay = createOutboxRelay({ database, nats, namespace: config.FIG_NAMESPACE, logger });
await relay.start();

// The read model of reference data: seeded from the reference-data API now (retrying in the background
// while it is unreachable), then kept current by reference.changed events.
const source: ReferenceSource = {
  url: config.REFERENCE_DATA_URL,
  token: config.REFERENCE_DATA_TOKEN,
  dev: config.auth.devSecret
    ? { secret: config.auth.devSecret, issuer: config.auth.issuer, audience: config.auth.audience }
    : undefined,
};
let seeded = false;
async function seedReferenceModel(attempt = 1): Promise<void> {
  try {
    const counts = await syncReferenceData(database.db, source);
    seeded = true;
    logger.info({ counts }, "reference read model seeded from reference-data");
  } catch (error) {
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
    logger.warn(
      { err: error, retryInMs: delay },
      "reference-data unreachable; the read model keeps its last copy",
    );
    setTimeout(() => void seedReferenceModel(attempt + 1), delay).unref();
  }
}
void seedReferenceModel();
const referenceSync = createReferenceSync({
  database,
  nats,
  namespace: config.FIG_NAMESPACE,
  logger,
  source,
});
await referenceSync.start();

const worker =
  config.WORKER === "on" || config.workerOnly
    ? createValidationWorker({
        db: database.db,
        store,
        nats,
        namespace: config.FIG_NAMESPACE,
        logger,
        progressEveryRows: config.WORKER_PROGRESS_EVERY_ROWS,
        ackWaitMs: config.WORKER_ACK_WAIT_MS,
        maxDeliver: config.WORKER_MAX_DELIVER,
      })
    : undefined;
await worker?.start();

const lifecycle = createLifecycle();
const app = buildApp({
  db: database.db,
  store,
  verifier: createTokenVerifier(config.auth),
  config,
  logger,
  tracer: tracing.tracer,
  readiness: {
    database: () => database.ping(),
    nats: () => nats.check(),
    "reference-data": async () => {
      if (!seeded && !(await referenceModelReady(database.db))) throw new Error("read model not seeded yet");
    },
  },
  lifecycle,
  api: !config.workerOnly,
});

serveApp({
  fetch: app.fetch,
  // --worker-only still answers /health, /ready and /metrics, so an orchestrator can probe it.
  port: config.PORT,
  hostname: config.HOST,
  logger,
  lifecycle,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  onShutdown: async () => {
    await worker?.stop();
    await referenceSync.stop();
    await relay.stop();
    await nats.close();
    await database.close();
    await tracing.shutdown();
  },
});
logger.info(
  {
    ms: Math.round(performance.now() - started),
    database: database.kind,
    worker: worker ? "on" : "off",
    workerOnly: config.workerOnly,
  },
  "started",
);
