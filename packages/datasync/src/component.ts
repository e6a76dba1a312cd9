import type { DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import type { RecordChange } from "@fig/reference";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { OwnerApi } from "./owner-api.ts";
import { watchWriteOwner } from "./owner-watch.ts";
import { createDatasyncState } from "./state.ts";
import { createReferenceSync, createSyncMetrics, type ReferenceSync } from "./sync.ts";

/**
 * The live sync as a bootstrap component: it consumes the origin's changes exactly while the origin is the
 * route's write owner (in the gateway's KV), so flipping the owner reverses the direction by itself —
 * reference-data follows the monolith before the flip, the monolith follows reference-data after it.
 *
 * @example
 * components: [followWriteOwner({ route: "reference-data", origin: "monolith", sync, nats, namespace, logger })]
 */
export function followWriteOwner({
  route,
  origin,
  sync,
  nats,
  namespace,
  logger,
  defaultOwner = "monolith",
}: {
  route: string;
  origin: string;
  sync: ReferenceSync;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn">;
  defaultOwner?: string;
}) {
  const watch = watchWriteOwner({
    nats,
    namespace,
    route,
    defaultOwner,
    logger,
    onOwner: (owner) => (owner === origin ? sync.start() : sync.stop()),
  });
  return {
    name: `reference sync from ${origin}`,
    start: () => watch.start(),
    async stop() {
      await watch.stop();
      await sync.stop();
    },
  };
}

/**
 * A service's side of the live sync, wired the one way both services need it: the sync of `origin`'s changes
 * (metrics in the service's registry, lag reported to KV for the gateway's GET /_fig/data), followed while
 * `origin` owns the route's writes.
 *
 * @example
 * createFollowerSync({ name: "reference-data-reference-sync", origin: "monolith", ownerApi, recordChange, ... })
 */
export function createFollowerSync(options: {
  name: string;
  origin: string;
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Logger;
  registry: Registry;
  route: string;
  ownerApi: OwnerApi;
  recordChange: RecordChange;
}) {
  const { name, origin, database, nats, namespace, logger, registry, route, ownerApi, recordChange } =
    options;
  const sync = createReferenceSync({
    name,
    origin,
    database,
    nats,
    namespace,
    logger,
    ownerApi,
    recordChange,
    metrics: createSyncMetrics(registry),
    lagReport: { state: createDatasyncState(nats, namespace), route },
  });
  return followWriteOwner({ route, origin, sync, nats, namespace, logger });
}
