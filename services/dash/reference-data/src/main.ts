import { createServiceTokenSource } from "@fig/auth";
import { runService } from "@fig/bootstrap";
import { Registry } from "prom-client";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import { createMonolithSync } from "./events.ts";
import { createReadCache } from "./read-cache.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  events: { relay: true },
  build: ({ config, database, nats, namespace, verifier, logger, tracer, readiness, lifecycle }) => {
    const metricsRegistry = new Registry();
    const { auth } = config;
    const sync = createMonolithSync({
      database,
      nats,
      namespace,
      logger,
      registry: metricsRegistry,
      route: config.SYNC_ROUTE,
      routesFile: config.FIG_ROUTES_FILE,
      monolith: {
        url: config.MONOLITH_URL,
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
    const read = createReadCache(config, { nats, namespace, logger, registry: metricsRegistry });
    const app = buildApp({
      db: database.db,
      ...{ verifier, logger, tracer, readiness, lifecycle, metricsRegistry, cache: read?.cache },
    });
    return { app, components: read ? [read.component, sync] : [sync] };
  },
});
