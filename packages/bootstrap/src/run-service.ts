import { type AuthConfig, createTokenVerifier, type TokenVerifier } from "@fig/auth";
import { type DatabaseHandle, databaseOptions, openMigratedDatabase } from "@fig/db";
import { createNatsClient, createOutboxRelay, type NatsClient } from "@fig/events";
import {
  createFaultInjection,
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
import { type StopStep, stopInOrder } from "./stop-in-order.ts";

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
  const fatal = (step: string, error: unknown): never => {
    logger.fatal({ err: error, step }, `${step}: ${(error as Error).message}`);
    exit(1);
    throw error;
  };

  // Stop steps accumulate as things start (newest first), so a failure half-way closes exactly what was opened.
  // Components stop before the infrastructure they use, which keeps a share of the grace period for itself.
  const opened: StopStep[] = [{ name: "tracing", stop: () => tracing.shutdown() }];
  const components: StopStep[] = [];

  // A signal during start-up (migrations, a slow NATS connect, PGlite warming up) ends the process cleanly
  // within the grace period too; once HTTP is up, serveApp's handlers take over.
  const stopDuringStartup = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "stopping during start-up");
    const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
    setTimeout(() => exit(1), config.SHUTDOWN_TIMEOUT_MS + 250).unref?.();
    void stopInOrder([...components, ...opened], { deadline, logger }).then((report) =>
      exit(report.failed.length + report.abandoned.length > 0 ? 1 : 0),
    );
  };
  process.once("SIGTERM", stopDuringStartup);
  process.once("SIGINT", stopDuringStartup);
  const readiness: Record<string, ReadinessCheck> = {};

  let database: DatabaseHandle | undefined;
  if (options.database) {
    const folder = options.database.migrationsFolder;
    database = await openMigratedDatabase({
      service: service.name,
      ...databaseOptions({ DATA_DIR: ".data", DB_POOL_MAX: 10, DB_STATEMENT_TIMEOUT_MS: 30_000, ...config }),
      migrationsFolder: folder instanceof URL ? folder.pathname : folder,
      logger,
    }).catch((error) => fatal("database", error));
    const db = database;
    opened.unshift({ name: "database", stop: () => db.close() });
    readiness.database = () => db.ping();
  }

  const namespace = config.FIG_NAMESPACE ?? "fig";
  let nats: NatsClient | undefined;
  if (options.events) {
    // NATS may be down at start: writes still commit (their events wait in the outbox) and /ready says why.
    const client = createNatsClient({
      servers: config.NATS_URL ?? "nats://127.0.0.1:4222",
      name: service.name,
      logger,
    });
    nats = client;
    opened.unshift({ name: "nats", stop: () => client.close() });
    readiness.nats = () => client.check();
    if (options.events.relay) {
      if (!database) fatal("events", new Error("an outbox relay needs the service's database"));
      const relay = createOutboxRelay({
        database: database as DatabaseHandle,
        nats: client,
        namespace,
        logger,
      });
      await relay.start();
      opened.unshift({ name: "outbox relay", stop: () => relay.stop() });
    }
  }

  const lifecycle = createLifecycle();
  const verifier = createTokenVerifier(config.auth);
  const built = await Promise.resolve(
    options.build({
      config,
      logger,
      tracer: tracing.tracer,
      lifecycle,
      verifier,
      readiness,
      database: database as BuildContext<C, D, E>["database"],
      nats: nats as BuildContext<C, D, E>["nats"],
      namespace,
    }),
  ).catch((error) => fatal("build", error));

  for (const component of built.components ?? []) {
    try {
      await component.start();
      components.unshift({ name: component.name, stop: () => component.stop() });
    } catch (error) {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      await stopInOrder([...components, ...opened], { deadline, logger });
      fatal(`start ${component.name}`, error);
    }
  }

  let fetch = built.app.fetch;
  if (config.FIG_FAULTS) {
    try {
      fetch = withFaults(built.app.fetch, config, verifier, logger);
    } catch (error) {
      fatal("faults", error);
    }
  }
  process.off("SIGTERM", stopDuringStartup);
  process.off("SIGINT", stopDuringStartup);
  const served = serveApp({
    fetch,
    port: config.PORT,
    hostname: config.HOST,
    logger,
    lifecycle,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    maxRequestBodyBytes: built.maxRequestBodyBytes,
    exit,
    onShutdown: async ({ deadline }) => {
      const reserveMs = Math.min(2000, Math.floor(config.SHUTDOWN_TIMEOUT_MS / 4));
      const first = await stopInOrder(components, { deadline: deadline - reserveMs, logger });
      const then = await stopInOrder(opened, { deadline, logger });
      const unclean = [...first.failed, ...first.abandoned, ...then.failed, ...then.abandoned];
      if (unclean.length > 0) throw new Error(`not stopped cleanly: ${unclean.join(", ")}`);
    },
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

/** FIG_FAULTS=1: the app behind fault injection (a share of 500s, extra latency), changeable at /_fig/faults. */
function withFaults(
  fetch: Built["app"]["fetch"],
  config: ServiceConfig,
  verifier: TokenVerifier,
  logger: Logger,
) {
  if (config.NODE_ENV === "production") throw new Error("FIG_FAULTS is refused when NODE_ENV=production");
  const faults = createFaultInjection({
    errorRate: config.FIG_FAULT_ERROR_RATE ?? 0,
    latencyMs: config.FIG_FAULT_LATENCY_MS ?? 0,
    isAdmin: async (authorization) => {
      const token = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1];
      if (!token) return false;
      const claims = await verifier.verifyBearerToken(token).catch(() => null);
      return claims?.roles.includes("admin") ?? false;
    },
  });
  logger.warn(
    { faults: faults.settings() },
    "FIG_FAULTS on: fault injection at /_fig/faults (never in production)",
  );
  return faults.wrap(fetch);
}
