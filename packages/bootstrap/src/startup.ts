import { createAuditRecorder } from "@fig/audit/publish";
import { isOperator, type TokenVerifier } from "@fig/auth";
import { createDatabase, type DatabaseHandle, databaseOptions, openMigratedDatabase } from "@fig/db";
import { createNatsClient, createOutboxRelay, type NatsClient } from "@fig/events";
import { createFaultInjection, type Logger, type ReadinessCheck } from "@fig/service";
import type { Component } from "./component.ts";
import type { Built, DatabaseWiring, EventsWiring, ServiceConfig } from "./run-service.ts";
import { type StopStep, stopInOrder } from "./stop-in-order.ts";

/**
 * What a service has opened so far while it starts, and how to close it: stop steps accumulate as things start
 * (newest first), so a failure half-way closes exactly what was opened. Components stop before the
 * infrastructure they use, which keeps a share of the grace period for itself.
 */
export type Startup = {
  service: string;
  config: ServiceConfig;
  logger: Logger;
  exit: (code: number) => void;
  opened: StopStep[];
  components: StopStep[];
  readiness: Record<string, ReadinessCheck>;
  /** Logs the failed step, exits 1 (and throws, for an `exit` that returns). */
  fatal: (step: string, error: unknown) => never;
  /** Hands the signals over to the HTTP server's shutdown. */
  endSignalWatch: () => void;
};

export function beginStartup(
  service: string,
  config: ServiceConfig,
  logger: Logger,
  exit: (code: number) => void,
  stopTracing: StopStep["stop"],
): Startup {
  const opened: StopStep[] = [{ name: "tracing", stop: stopTracing }];
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
  return {
    service,
    config,
    logger,
    exit,
    opened,
    components,
    readiness: {},
    fatal: (step, error) => {
      logger.fatal({ err: error, step }, `${step}: ${(error as Error).message}`);
      exit(1);
      throw error;
    },
    endSignalWatch: () => {
      process.off("SIGTERM", stopDuringStartup);
      process.off("SIGINT", stopDuringStartup);
    },
  };
}

/** The service's own migrated database: Postgres at DATABASE_URL, else embedded PGlite under DATA_DIR. */
export async function openDatabase(start: Startup, wiring: DatabaseWiring): Promise<DatabaseHandle> {
  const { config, logger } = start;
  const folder = wiring.migrationsFolder;
  const db = await openMigratedDatabase({
    service: start.service,
    ...databaseOptions({ DATA_DIR: ".data", DB_POOL_MAX: 10, DB_STATEMENT_TIMEOUT_MS: 30_000, ...config }),
    migrationsFolder: folder instanceof URL ? folder.pathname : folder,
    logger,
  }).catch((error) => start.fatal("database", error));
  start.opened.unshift({ name: "database", stop: () => db.close() });
  start.readiness.database = () => db.ping();
  return db;
}

/** The NATS connection, and the outbox relay when the service publishes events. */
export async function openEvents(
  start: Startup,
  wiring: EventsWiring,
  database: DatabaseHandle | undefined,
  namespace: string,
): Promise<NatsClient> {
  const { config, logger } = start;
  // NATS may be down at start: writes still commit (their events wait in the outbox) and /ready says why.
  const client = createNatsClient({
    servers: config.NATS_URL ?? "nats://127.0.0.1:4222",
    name: start.service,
    logger,
  });
  start.opened.unshift({ name: "nats", stop: () => client.close() });
  start.readiness.nats = () => client.check();
  if (wiring.relay) {
    if (!database) start.fatal("events", new Error("an outbox relay needs the service's database"));
    const relay = createOutboxRelay({
      database: await relayDatabase(start, database as DatabaseHandle),
      nats: client,
      namespace,
      logger,
    });
    await relay.start();
    start.opened.unshift({ name: "outbox relay", stop: () => relay.stop() });
  }
  return client;
}

/** The relay's connections: its claim, publish and mark transaction plus its LISTEN. */
const RELAY_POOL_MAX = 2;

/**
 * A pool of the relay's own on a Postgres server: its transaction never waits behind the service's writers for a
 * connection of their pool, where a busy writer's events would otherwise wait for their own relay. PGlite is one
 * connection in one process, so the relay shares it.
 */
async function relayDatabase(start: Startup, database: DatabaseHandle): Promise<DatabaseHandle> {
  const { url, statementTimeoutMs } = databaseOptions({
    DATA_DIR: ".data",
    DB_POOL_MAX: RELAY_POOL_MAX,
    DB_STATEMENT_TIMEOUT_MS: 30_000,
    ...start.config,
  });
  if (database.kind !== "postgres" || !url) return database;
  const own = await createDatabase({
    service: `${start.service}-relay`,
    url,
    poolMax: RELAY_POOL_MAX,
    statementTimeoutMs,
  });
  start.opened.unshift({ name: "relay database", stop: () => own.close() });
  return own;
}

/** Starts the components in order; a failure stops what was started and ends the process. */
export async function startComponents(start: Startup, list: Component[]) {
  for (const component of list) {
    try {
      await component.start();
      start.components.unshift({ name: component.name, stop: () => component.stop() });
    } catch (error) {
      const deadline = Date.now() + start.config.SHUTDOWN_TIMEOUT_MS;
      await stopInOrder([...start.components, ...start.opened], { deadline, logger: start.logger });
      start.fatal(`start ${component.name}`, error);
    }
  }
}

/** Shutdown after HTTP drained: the components first (keeping a reserve), then what start-up opened. */
export async function stopAll({ components, opened, config, logger }: Startup, deadline: number) {
  const reserveMs = Math.min(2000, Math.floor(config.SHUTDOWN_TIMEOUT_MS / 4));
  const first = await stopInOrder(components, { deadline: deadline - reserveMs, logger });
  const then = await stopInOrder(opened, { deadline, logger });
  const unclean = [...first.failed, ...first.abandoned, ...then.failed, ...then.abandoned];
  if (unclean.length > 0) throw new Error(`not stopped cleanly: ${unclean.join(", ")}`);
}

/** FIG_FAULTS=1: the app behind fault injection (a share of 500s, extra latency), changeable at /_fig/faults. */
export function withFaults(
  fetch: Built["app"]["fetch"],
  config: ServiceConfig,
  verifier: TokenVerifier,
  logger: Logger,
  /** With NATS, each change of the settings is recorded for the audit log (kind `fault`). */
  events?: { nats: NatsClient; namespace: string; service: string },
) {
  if (config.NODE_ENV === "production") throw new Error("FIG_FAULTS is refused when NODE_ENV=production");
  const claimsOf = async (authorization: string | undefined) => {
    const token = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1];
    return token ? await verifier.verifyBearerToken(token).catch(() => null) : null;
  };
  const audit = events && createAuditRecorder({ ...events, source: events.service, logger });
  const faults = createFaultInjection({
    errorRate: config.FIG_FAULT_ERROR_RATE ?? 0,
    latencyMs: config.FIG_FAULT_LATENCY_MS ?? 0,
    checkOperator: async (authorization) => {
      const claims = await claimsOf(authorization);
      return claims && { operator: isOperator(claims, config.FIG_OPERATOR_TENANT ?? "platform") };
    },
    onChange: async ({ before, after, authorization }) => {
      const claims = await claimsOf(authorization);
      await audit?.record({
        actor: { sub: claims?.sub ?? "unknown", tenant: claims?.tenant ?? null },
        kind: "fault",
        subject: events?.service ?? null,
        from: before,
        to: after,
      });
    },
  });
  logger.warn(
    { faults: faults.settings() },
    "FIG_FAULTS on: fault injection at /_fig/faults (never in production)",
  );
  return faults.wrap(fetch);
}
