import { createTokenVerifier } from "@fig/auth";
import { databaseOptions, openMigratedDatabase } from "@fig/db";
import { createNatsClient, createOutboxRelay } from "@fig/events";
import { createLifecycle, createLogger, loadConfigOrExit, serveApp, setupTracing } from "@fig/service";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";

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

// NATS may be down at start: writes still commit (their events wait in the outbox) and /ready says why.
const nats = createNatsClient({ servers: config.NATS_URL, name: SERVICE.name, logger });
const relay = createOutboxRelay({ database, nats, namespace: config.FIG_NAMESPACE, logger });
await relay.start();

const lifecycle = createLifecycle();
const app = buildApp({
  db: database.db,
  verifier: createTokenVerifier(config.auth),
  logger,
  tracer: tracing.tracer,
  readiness: { database: () => database.ping(), nats: () => nats.check() },
  lifecycle,
});

serveApp({
  fetch: app.fetch,
  port: config.PORT,
  hostname: config.HOST,
  logger,
  lifecycle,
  shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  onShutdown: async () => {
    await relay.stop();
    await nats.close();
    await database.close();
    await tracing.shutdown();
  },
});
logger.info({ ms: Math.round(performance.now() - started), database: database.kind }, "started");
