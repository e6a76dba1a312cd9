import type { NatsClient } from "@fig/events";
import type { Logger } from "pino";
import { watchWriteOwner } from "./owner-watch.ts";
import type { ReferenceSync } from "./sync.ts";

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
