import { runService } from "@fig/bootstrap";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  events: { relay: true },
  build: ({ database, verifier, logger, tracer, readiness, lifecycle }) => ({
    app: buildApp({ db: database.db, verifier, logger, tracer, readiness, lifecycle }),
  }),
});
