import { createDatabase, type DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import type { CliConfig } from "./config.ts";
import { type FlipResult, flipWriteOwner, gatewayAdmin } from "./flip.ts";
import { dataRoute, otherSide } from "./routes.ts";
import { createDatasyncState } from "./state.ts";

/**
 * `migrate-data flip <route>` as a function (`bun run promote … --flip-writes` runs it after 100 % reads): opens
 * both databases from `config`, checks the gateway and NATS KV agree on the owner, and flips (see flipWriteOwner).
 */
export async function flipRouteWrites({
  route: routeId,
  config,
  nats,
  gatewayUrl = config.GATEWAY_URL,
  gatewayToken,
  holdMs = config.FLIP_HOLD_MS,
  log,
}: {
  route: string;
  config: CliConfig;
  nats: NatsClient;
  gatewayUrl?: string;
  gatewayToken: string;
  holdMs?: number;
  log?: (line: string) => void;
}): Promise<FlipResult> {
  const route = dataRoute(routeId);
  const state = createDatasyncState(nats, config.FIG_NAMESPACE);
  const ownerName = await state.writeOwner(route.id);
  const candidateName = otherSide(route, ownerName);
  const gateway = gatewayAdmin(gatewayUrl, gatewayToken);
  const current = await gateway.writeOwner(route.id);
  if (current !== ownerName)
    throw new Error(`the gateway says ${current} owns ${route.id}, NATS KV says ${ownerName}`);
  const handles: DatabaseHandle[] = [];
  const open = async (name: string) => {
    const url = route.databases(config)[name];
    if (!url)
      throw new Error(`set ${route.variables[name]} (the ${name} database) to flip ${route.id}'s writes`);
    const handle = await createDatabase({
      service: `flip-${name}`,
      url,
      poolMax: 4,
      statementTimeoutMs: 120_000,
    });
    handles.push(handle);
    return { name, db: handle.db };
  };
  try {
    return await flipWriteOwner({
      route: route.id,
      owner: await open(ownerName),
      candidate: await open(candidateName),
      specs: route.specs,
      followers: route.followers,
      gateway,
      nats,
      namespace: config.FIG_NAMESPACE,
      state,
      holdMs,
      ...(log ? { log } : {}),
    });
  } finally {
    for (const h of handles) await h.close().catch(() => {});
  }
}
