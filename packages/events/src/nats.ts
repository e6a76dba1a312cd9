import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Logger } from "pino";

export type NatsClient = {
  /** The connection, connecting on first use; rejects while the server is unreachable (callers retry). */
  connection(): Promise<NatsConnection>;
  jetstream(): Promise<JetStreamClient>;
  manager(): Promise<JetStreamManager>;
  /** Readiness: a round trip to the server and JetStream's account info. */
  check(): Promise<void>;
  close(): Promise<void>;
};

/**
 * One lazily-established NATS connection per process. Once connected, nats.js reconnects by itself forever;
 * before the first connection, each `connection()` call makes one attempt, so a service starts (and its
 * outbox fills) while NATS is down.
 *
 * @example
 * const nats = createNatsClient({ servers: config.NATS_URL, name: "reference-data", logger });
 */
export function createNatsClient({
  servers,
  name,
  logger,
}: {
  servers: string | string[];
  name: string;
  logger?: Pick<Logger, "info" | "warn">;
}): NatsClient {
  let pending: Promise<NatsConnection> | undefined;
  let closed = false;
  const connection = () => {
    if (closed) return Promise.reject(new Error("NATS client closed"));
    pending ??= connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 2000,
      // Without it nats.js builds an Error (a stack trace) per request and per timer to say where a timeout came
      // from: a third of the CPU of a js.publish. A timeout still says what timed out.
      noAsyncTraces: true,
    }).then(
      (nc) => {
        logger?.info({ server: nc.getServer() }, "nats: connected");
        void watch(nc);
        return nc;
      },
      (error) => {
        pending = undefined;
        throw error;
      },
    );
    return pending;
  };
  async function watch(nc: NatsConnection) {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect")
        logger?.warn({ status: status.type }, "nats: connection status");
    }
  }
  return {
    connection,
    jetstream: async () => jetstream(await connection()),
    manager: async () => jetstreamManager(await connection()),
    async check() {
      const nc = await connection();
      await nc.rtt();
      await (await jetstreamManager(nc)).getAccountInfo();
    },
    async close() {
      closed = true;
      const nc = await pending?.catch(() => undefined);
      await nc?.drain().catch(() => nc.close());
    },
  };
}
