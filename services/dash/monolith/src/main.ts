import { createServiceTokenSource } from "@fig/auth";
import { runService } from "@fig/bootstrap";
import { Registry } from "prom-client";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import { createReferenceDataSync } from "./events.ts";
import { seedEmptyReferenceTables } from "./modules/reference/seed.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  events: { relay: true },
  build: async ({ config, database, nats, namespace, verifier, logger, tracer, readiness, lifecycle }) => {
    const metricsRegistry = new Registry();
    const { auth } = config;
    // After the write-ownership flip, reference-data's changes flow back here (off until then).
    const sync = createReferenceDataSync({
      database,
      nats,
      namespace,
      logger,
      registry: metricsRegistry,
      route: config.SYNC_ROUTE,
      routesFile: config.FIG_ROUTES_FILE,
      referenceData: {
        url: config.REFERENCE_DATA_URL,
        token: config.SYNC_TOKEN,
        // Identity's service tokens when this service has a client (AUTH_TOKEN_URL, AUTH_CLIENT_ID, …).
        tokenSource: auth.client
          ? createServiceTokenSource({ ...auth.client, scope: "reference:read" })
          : undefined,
        dev: auth.devSecret
          ? { secret: auth.devSecret, issuer: auth.issuer, audience: auth.audience }
          : undefined,
        caller: SERVICE.name,
      },
    });
    return {
      // The legacy app ships with its reference data: reference-data's seed, loaded once into empty tables.
      summary: { seeded: await seedEmptyReferenceTables(database.db, config.REFERENCE_SEED_DIR) },
      maxRequestBodyBytes: config.MAX_UPLOAD_BYTES + 1024 * 1024,
      app: buildApp({
        db: database.db,
        verifier,
        config: { MAX_UPLOAD_BYTES: config.MAX_UPLOAD_BYTES },
        logger,
        tracer,
        readiness,
        lifecycle,
        metricsRegistry,
      }),
      components: [sync],
    };
  },
});
