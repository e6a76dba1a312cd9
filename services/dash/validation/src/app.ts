import { createTokenVerifier, DEV_SECRET_DEFAULT } from "@fig/auth";
import type { Database } from "@fig/db";
import { createApp, type Lifecycle, type Logger, openApiDocumentOf, type ReadinessCheck } from "@fig/service";
import type { Tracer } from "@opentelemetry/api";
import type { ServiceDeps } from "./deps.ts";
import type { FileStore } from "./domain/object-store.ts";
import { filesRouter } from "./routes/files/handlers.ts";
import { validationsRouter } from "./routes/validations/handlers.ts";

export const SERVICE = {
  name: "validation",
  version: "1.0.0",
  description:
    "Asynchronous validation of RAMQ billing CSVs: upload a file, request a run (202), follow its progress, read the findings. " +
    "Files, runs and findings belong to the tenant in your token; other tenants' are invisible (404). Reads need role viewer, uploads and runs editor.",
};

export type AppDeps = ServiceDeps & {
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  lifecycle?: Lifecycle;
  /** false for `--worker-only`: only /health, /ready, /metrics and the docs. */
  api?: boolean;
};

/** Pure factory: the validation HTTP app from its dependencies. No I/O happens here. */
export function buildApp({ logger, tracer, readiness, lifecycle, api = true, ...deps }: AppDeps) {
  const app = createApp({ ...SERVICE, logger, tracer, readiness, lifecycle });
  if (!api) return app;
  app.route("/api/files", filesRouter(deps));
  app.route("/api/validations", validationsRouter(deps));
  return app;
}

/** The OpenAPI document, built without a database, NATS or a socket (for `bun run openapi`). */
export function openApiDocument(logger: Logger) {
  const untouchable = <T extends object>(what: string) =>
    new Proxy({} as T, {
      get() {
        throw new Error(`openApiDocument must not touch the ${what}`);
      },
    });
  const verifier = createTokenVerifier({ issuer: "-", audience: "-", devSecret: DEV_SECRET_DEFAULT });
  const app = buildApp({
    db: untouchable<Database>("database"),
    store: untouchable<FileStore>("object store"),
    verifier,
    config: { MAX_UPLOAD_BYTES: 200 * 1024 * 1024 },
    logger,
  });
  return openApiDocumentOf(app, SERVICE);
}
