import { REFERENCE_SPECS, type ReferenceReadCache, referenceRouter } from "@dash/reference";
import { createTokenVerifier, DEV_SECRET_DEFAULT, type TokenVerifier } from "@fig/auth";
import type { Database } from "@fig/db";
import { createApp, type Lifecycle, type Logger, openApiDocumentOf, type ReadinessCheck } from "@fig/service";
import type { Tracer } from "@opentelemetry/api";
import type { Registry } from "prom-client";
import { recordReferenceChanged } from "./events.ts";

export const SERVICE = {
  name: "reference-data",
  version: "1.0.0",
  description:
    "Quebec physician-billing (RAMQ) reference data: billing codes, contexts, establishments and validation rules. " +
    "Global (not tenant-owned). Reads need role viewer, writes and imports editor, deletes admin.",
};

export type AppDeps = {
  db: Database;
  verifier: TokenVerifier;
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  lifecycle?: Lifecycle;
  /** Extra metrics for /metrics (the live sync's lag). */
  metricsRegistry?: Registry;
  /** This replica's read cache of single records (main.ts keeps it current with reference.changed). */
  cache?: ReferenceReadCache;
};

/** Pure factory: the reference-data HTTP app from its dependencies. No I/O happens here. */
export function buildApp({
  db,
  verifier,
  logger,
  tracer,
  readiness,
  lifecycle,
  metricsRegistry,
  cache,
}: AppDeps) {
  const app = createApp({ ...SERVICE, logger, tracer, readiness, lifecycle, metricsRegistry });
  // The routes, store and CSV codec live in @dash/reference (the monolith serves the same contract).
  const deps = { db, verifier, recordChange: recordReferenceChanged, cache };
  for (const spec of REFERENCE_SPECS) app.route(`/api/${spec.resource}`, referenceRouter(spec, deps));
  return app;
}

/** The OpenAPI document, built without a database or a listening socket (for `bun run openapi`). */
export function openApiDocument(logger: Logger) {
  const unusedDb = new Proxy({} as Database, {
    get() {
      throw new Error("openApiDocument must not touch the database");
    },
  });
  const verifier = createTokenVerifier({ issuer: "-", audience: "-", devSecret: DEV_SECRET_DEFAULT });
  return openApiDocumentOf(buildApp({ db: unusedDb, verifier, logger }), SERVICE);
}
