import { runService } from "@fig/bootstrap";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import { createAuditConsumers } from "./consumer.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  events: {},
  build: ({ config, database, nats, namespace, verifier, logger, tracer, readiness, lifecycle }) => {
    // Entries arrive through JetStream: the durable consumers append them while HTTP serves reads.
    const consumers = createAuditConsumers({ database, nats, namespace, logger });
    return {
      app: buildApp({
        db: database.db,
        verifier,
        operatorTenant: config.FIG_OPERATOR_TENANT,
        logger,
        tracer,
        readiness,
        lifecycle,
      }),
      components: [{ name: "audit consumers", start: () => consumers.start(), stop: () => consumers.stop() }],
    };
  },
});
