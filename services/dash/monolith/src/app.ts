import { createTokenVerifier, DEV_SECRET_DEFAULT } from "@fig/auth";
import type { Database } from "@fig/db";
import { createApp, type Lifecycle, type Logger, openApiDocumentOf, type ReadinessCheck } from "@fig/service";
import type { Tracer } from "@opentelemetry/api";
import type { Registry } from "prom-client";
import type { ModuleDeps } from "./deps.ts";
import { filesModule } from "./modules/files/index.ts";
import { mountReferenceModule } from "./modules/reference/index.ts";
import { validationsModule } from "./modules/validations/index.ts";

export const SERVICE = {
  name: "monolith",
  version: "1.0.0",
  description:
    "Dash, the legacy monolith being strangled: the reference-data admin module (codes, contexts, establishments, rules) " +
    "and billing-file validation, answered synchronously. Speaks the same contract as reference-data and validation, " +
    "with one documented difference: POST /api/validations answers 200 with the finished run (not 202). Runs from before the " +
    "migration say `archived: true`. Files, runs and findings belong to the tenant in your token.",
};

export type AppDeps = ModuleDeps & {
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  lifecycle?: Lifecycle;
  /** Extra metrics for /metrics (the reverse sync's lag). */
  metricsRegistry?: Registry;
};

/** Pure factory: the monolith's HTTP app (every module) from its dependencies. No I/O happens here. */
export function buildApp({ logger, tracer, readiness, lifecycle, metricsRegistry, ...deps }: AppDeps) {
  const app = createApp({ ...SERVICE, logger, tracer, readiness, lifecycle, metricsRegistry });
  mountReferenceModule(app, deps);
  app.route("/api/files", filesModule(deps));
  app.route("/api/validations", validationsModule(deps));
  return app;
}

/** The OpenAPI document, built without a database or a socket (for `bun run openapi`). */
export function openApiDocument(logger: Logger) {
  const db = new Proxy({} as Database, {
    get() {
      throw new Error("openApiDocument must not touch the database");
    },
  });
  const verifier = createTokenVerifier({ issuer: "-", audience: "-", devSecret: DEV_SECRET_DEFAULT });
  const app = buildApp({ db, verifier, config: { MAX_UPLOAD_BYTES: 50 * 1024 * 1024 }, logger });
  return openApiDocumentOf(app, SERVICE);
}
