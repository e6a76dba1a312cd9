import { type AuthConfig, createTokenVerifier, type TokenVerifier } from "@fig/auth";
import type { DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import {
  createLifecycle,
  createLogger,
  type Lifecycle,
  type Logger,
  loadConfigOrExit,
  type ReadinessCheck,
  serveApp,
  setupTracing,
} from "@fig/service";
import type { Tracer } from "@opentelemetry/api";
import type { Component } from "./component.ts";
import { beginStartup, openDatabase, openEvents, startComponents, stopAll, withFaults } from "./startup.ts";

/** What every service's config has (baseConfigShape + PORT + auth); database and NATS fields when it uses them. */
export type ServiceConfig = {
  NODE_ENV: string;
  HOST: string;
  PORT: number;
  LOG_LEVEL: string;
  LOG_PRETTY: boolean;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  SHUTDOWN_TIMEOUT_MS: number;
  /** Fault injection (packages/service faults.ts): only when FIG_FAULTS is on. */
  FIG_FAULTS?: boolean;
  FIG_FAULT_ERROR_RATE?: number;
  FIG_FAULT_LATENCY_MS?: number;
  /** Whose role `operator` may use /_fig/faults (default `platform`, as at the gateway). */
  FIG_OPERATOR_TENANT?: string;
  auth: AuthConfig;
  DATABASE_URL?: string | undefined;
  DATA_DIR?: string;
  DB_POOL_MAX?: number;
  DB_STATEMENT_TIMEOUT_MS?: number;
  NATS_URL?: string;
  FIG_NAMESPACE?: string;
};

/** A migrated database of the service's own (Postgres at DATABASE_URL, else embedded PGlite). */
export type DatabaseWiring = { migrationsFolder: URL | string };
/** A NATS connection; `relay: true` also publishes the service's outbox. */
export type EventsWiring = { relay?: boolean };

export type BuildContext<C, D, E> = {
  config: C;
  logger: Logger;
  tracer: Tracer;
  lifecycle: Lifecycle;
  verifier: TokenVerifier;
  /** Holds the database/nats checks already; add the service's own before passing it to createApp. */
  readiness: Record<string, ReadinessCheck>;
  database: D extends DatabaseWiring ? DatabaseHandle : undefined;
  nats: E extends EventsWiring ? NatsClient : undefined;
  namespace: string;
};

export type Built = {
  app: { fetch: (request: Request) => Response | Promise<Response> };
  /** Started in order after the relay; stopped in reverse before it. */
  components?: Component[];
  /** Extra fields for the "started" log line. */
  summary?: Record<string, unknown>;
  /** The largest request body the server takes (default 128 MiB): services taking uploads raise it. */
  maxRequestBodyBytes?: number;
  /** Listen with SO_REUSEPORT, so more processes of the service can share its port (the gateway's N processes). */
  reusePort?: boolean;
};

export type RunServiceOptions<C extends ServiceConfig, D, E> = {
  service: { name: string; version: string };
  loadConfig: () => C;
  /** What the service has besides HTTP; each is optional (a gateway has no database). */
  database?: D;
  events?: E;
  build: (context: BuildContext<C, D, E>) => Built | Promise<Built>;
  /** Called instead of `process.exit` (tests). */
  exit?: (code: number) => void;
};

/**
 * Starts a service in the one order every Fig service uses: config → logger → tracing → migrated database →
 * NATS → outbox relay → the service's components → HTTP. On SIGTERM/SIGINT it drains HTTP, then stops the
 * components (reverse order), the relay, NATS, the database and tracing, all within SHUTDOWN_TIMEOUT_MS.
 *
 * @example
 * await runService({
 *   service: SERVICE, loadConfig,
 *   database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
 *   events: { relay: true },
 *   build: ({ database, verifier, logger, tracer, readiness, lifecycle }) =>
 *     ({ app: buildApp({ db: database.db, verifier, logger, tracer, readiness, lifecycle }) }),
 * });
 */
export async function runService<
  C extends ServiceConfig,
  D extends DatabaseWiring | undefined = undefined,
  E extends EventsWiring | undefined = undefined,
>(options: RunServiceOptions<C, D, E>) {
  const { service, exit = (code: number) => process.exit(code) } = options;
  const started = performance.now();
  const config = loadConfigOrExit(service.name, options.loadConfig);
  const logger = createLogger({ service: service.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const tracing = setupTracing({
    serviceName: service.name,
    otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  });
  const start = beginStartup(service.name, config, logger, exit, () => tracing.shutdown());
  const database = options.database ? await openDatabase(start, options.database) : undefined;
  const namespace = config.FIG_NAMESPACE ?? "fig";
  const nats = options.events ? await openEvents(start, options.events, database, namespace) : undefined;

  const lifecycle = createLifecycle();
  const verifier = createTokenVerifier(config.auth);
  const built = await Promise.resolve(
    options.build({
      config,
      logger,
      tracer: tracing.tracer,
      lifecycle,
      verifier,
      readiness: start.readiness,
      database: database as BuildContext<C, D, E>["database"],
      nats: nats as BuildContext<C, D, E>["nats"],
      namespace,
    }),
  ).catch((error) => start.fatal("build", error));
  await startComponents(start, built.components ?? []);

  let fetch = built.app.fetch;
  if (config.FIG_FAULTS) {
    try {
      const events = nats ? { nats, namespace, service: service.name } : undefined;
      fetch = withFaults(built.app.fetch, config, verifier, logger, events);
    } catch (error) {
      start.fatal("faults", error);
    }
  }
  start.endSignalWatch();
  const served = serveApp({
    fetch,
    port: config.PORT,
    hostname: config.HOST,
    logger,
    lifecycle,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    maxRequestBodyBytes: built.maxRequestBodyBytes,
    reusePort: built.reusePort,
    exit,
    onShutdown: ({ deadline }) => stopAll(start, deadline),
  });
  logger.info(
    {
      ms: Math.round(performance.now() - started),
      ...(database ? { database: database.kind } : {}),
      components: (built.components ?? []).map((c) => c.name),
      ...built.summary,
    },
    "started",
  );
  return { config, logger, port: served.port, shutdown: served.shutdown, database, nats };
}
