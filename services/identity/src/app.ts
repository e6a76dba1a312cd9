import { createTokenVerifier, DEV_SECRET_DEFAULT } from "@fig/auth";
import type { Database } from "@fig/db";
import { createApp, type Lifecycle, type Logger, openApiDocumentOf, type ReadinessCheck } from "@fig/service";
import type { Tracer } from "@opentelemetry/api";
import type { ServiceDeps } from "./deps.ts";
import type { Signer } from "./domain/keys.ts";
import { authRouter } from "./routes/auth/handlers.ts";
import { oauthRouter } from "./routes/oauth/handlers.ts";
import { usersRouter } from "./routes/users/handlers.ts";
import { wellKnownRouter } from "./routes/well-known/handlers.ts";

export const SERVICE = {
  name: "identity",
  version: "0.1.0",
  description:
    "Fig's identity provider: users of a tenant log in with email and password and get a short-lived EdDSA access token and a rotating refresh token; " +
    "services get tokens by the client-credentials grant; verifiers read the signing keys at /.well-known/jwks.json. A tenant's admins manage its users at /api/users.",
};

export type AppDeps = ServiceDeps & {
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  lifecycle?: Lifecycle;
};

/** Pure factory: the identity HTTP app from its dependencies. No I/O happens here. */
export function buildApp({ logger, tracer, readiness, lifecycle, ...deps }: AppDeps) {
  const app = createApp({ ...SERVICE, logger, tracer, readiness, lifecycle });
  const { identity } = deps;
  app.route("/api/auth", authRouter({ identity, clientIp: deps.clientIp }));
  app.route("/api/users", usersRouter({ db: identity.db, verifier: deps.verifier }));
  app.route("/oauth", oauthRouter({ identity }));
  app.route(
    "/.well-known",
    wellKnownRouter({
      db: identity.db,
      issuer: identity.tokens.issuer,
      publicUrl: deps.publicUrl,
      // A retired key stays published while a token it signed may still be presented (lifetime + 60 s skew).
      retainRetiredMs: (identity.tokens.accessTtlSeconds + 60) * 1000,
      scopes: deps.scopes,
    }),
  );
  return app;
}

/** The OpenAPI document, built without a database or a socket (for `bun run openapi`). */
export function openApiDocument(logger: Logger) {
  const untouchable = new Proxy({} as Database, {
    get() {
      throw new Error("openApiDocument must not touch the database");
    },
  });
  const app = buildApp({
    identity: {
      db: untouchable,
      signer: untouchable as unknown as Signer,
      tokens: { issuer: "-", audience: "-", accessTtlSeconds: 600 },
      throttle: { accountMaxFailures: 5, ipMaxFailures: 50, windowSeconds: 900, lockoutSeconds: 900 },
      refreshTtlSeconds: 0,
    },
    verifier: createTokenVerifier({ issuer: "-", audience: "-", devSecret: DEV_SECRET_DEFAULT }),
    clientIp: () => null,
    publicUrl: "http://127.0.0.1:8080",
    scopes: [],
    logger,
  });
  return openApiDocumentOf(app, SERVICE);
}
