import { createTokenVerifier, DEV_SECRET_DEFAULT } from "@fig/auth";
import type { Database } from "@fig/db";
import { createApp, type Lifecycle, type Logger, openApiDocumentOf, type ReadinessCheck } from "@fig/service";
import type { Tracer } from "@opentelemetry/api";
import type { ServiceDeps } from "./deps.ts";
import { auditRouter } from "./routes/entries/handlers.ts";

export const SERVICE = {
  name: "audit",
  version: "0.1.0",
  description:
    "Fig's audit log: every control-plane change and identity event, appended to a hash chain that shows tampering. " +
    "Entries arrive through JetStream (`audit.recorded`, `identity.*`); this API reads them and verifies the chain. Operators only.",
};

export type AppDeps = ServiceDeps & {
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  lifecycle?: Lifecycle;
};

/** Pure factory: the audit HTTP app from its dependencies. No I/O happens here. */
export function buildApp({ logger, tracer, readiness, lifecycle, ...deps }: AppDeps) {
  const app = createApp({ ...SERVICE, logger, tracer, readiness, lifecycle });
  app.route("/api/audit", auditRouter(deps));
  return app;
}

/** The OpenAPI document, built without a database or a socket (for `bun run openapi`). */
export function openApiDocument(logger: Logger) {
  const untouchable = new Proxy({} as Database, {
    get() {
      throw new Error("openApiDocument must not touch the database");
    },
  });
  const verifier = createTokenVerifier({ issuer: "-", audience: "-", devSecret: DEV_SECRET_DEFAULT });
  return openApiDocumentOf(
    buildApp({ db: untouchable, verifier, logger, operatorTenant: "platform" }),
    SERVICE,
  );
}
