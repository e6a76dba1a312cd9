import { runService } from "@fig/bootstrap";
import { buildApp, SERVICE } from "./app.ts";
import { loadConfig } from "./config.ts";
import { seedEmptyReferenceTables } from "./modules/reference/seed.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  events: { relay: true },
  build: async ({ config, database, verifier, logger, tracer, readiness, lifecycle }) => ({
    // The legacy app ships with its reference data: reference-data's seed, loaded once into empty tables.
    summary: { seeded: await seedEmptyReferenceTables(database.db, config.REFERENCE_SEED_DIR) },
    app: buildApp({
      db: database.db,
      verifier,
      config: { MAX_UPLOAD_BYTES: config.MAX_UPLOAD_BYTES },
      logger,
      tracer,
      readiness,
      lifecycle,
    }),
  }),
});
