import type { DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { DataRoute } from "./data-routes.ts";
import { watchWriteOwner } from "./owner-watch.ts";
import { createDatasyncState } from "./state.ts";
import { createLiveSync, createSyncMetrics, type LiveSync, type LiveSyncOptions } from "./sync.ts";

/**
 * The live sync as a bootstrap component: it consumes the origin's changes exactly while the origin is the
 * route's write owner (in the gateway's KV), so flipping the owner reverses the direction by itself —
 * the new side follows the legacy side before the flip, the legacy side follows the new one after it.
 *
 * @example
 * components: [followWriteOwner({ route: "scheduling", origin: "clinic-legacy", sync, nats, namespace, logger, defaultOwner: "clinic-legacy" })]
 */
export function followWriteOwner({
  route,
  origin,
  sync,
  nats,
  namespace,
  logger,
  defaultOwner,
}: {
  route: string;
  origin: string;
  sync: LiveSync;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn">;
  /** The owner before the gateway seeds the route's KV entry (DataRoute.seedOwner). */
  defaultOwner: string;
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
    name: `data sync of ${route} from ${origin}`,
    start: () => watch.start(),
    async stop() {
      await watch.stop();
      await sync.stop();
    },
  };
}

/**
 * A service's side of the live sync, wired from the route's `fig.data` (dataRoute): the sync of `origin`'s
 * changes to the declared tables (metrics in the service's registry, lag reported to KV for the gateway's
 * GET /_fig/data), followed while `origin` owns the route's writes. This side's consumer name comes from the
 * declaration too.
 *
 * @example
 * const route = readDataRoute(config.FIG_ROUTES_FILE, "scheduling");
 * createFollowerSync({ route, origin: "clinic-legacy", database, nats, namespace, logger, registry })
 */
export function createFollowerSync(
  options: {
    route: DataRoute;
    origin: string;
    database: DatabaseHandle;
    nats: NatsClient;
    namespace: string;
    logger: Logger;
    registry: Registry;
  } & Pick<LiveSyncOptions, "readOwnerTable" | "republish" | "prepareRow">,
) {
  const { route, origin, nats, namespace, logger, registry, ...rest } = options;
  const sync = createLiveSync({
    ...rest,
    name: route.consumers[origin] as string,
    origin,
    event: route.event,
    tables: route.tables,
    nats,
    namespace,
    logger,
    metrics: createSyncMetrics(registry),
    lagReport: { state: createDatasyncState(nats, namespace), route: route.id },
  });
  return followWriteOwner({
    route: route.id,
    origin,
    sync,
    nats,
    namespace,
    logger,
    defaultOwner: route.seedOwner,
  });
}
