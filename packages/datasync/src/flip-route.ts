import type { AuditInput } from "@fig/audit";
import { createAuditRecorder } from "@fig/audit/publish";
import { createDatabase, type DatabaseHandle } from "@fig/db";
import type { NatsClient } from "@fig/events";
import { createLogger } from "@fig/service";
import type { CliConfig } from "./config.ts";
import { dataRouteOf, otherSide } from "./data-routes.ts";
import { type FlipResult, flipWriteOwner, gatewayAdmin } from "./flip.ts";
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
  const route = dataRouteOf(config.routeFile.file, routeId);
  const state = createDatasyncState(nats, config.FIG_NAMESPACE);
  const ownerName = await state.writeOwner(route.id, route.seedOwner);
  const candidateName = otherSide(route, ownerName);
  const gateway = gatewayAdmin(gatewayUrl, gatewayToken);
  const current = await gateway.writeOwner(route.id);
  if (current !== ownerName)
    throw new Error(`the gateway says ${current} owns ${route.id}, NATS KV says ${ownerName}`);
  const handles: DatabaseHandle[] = [];
  const open = async (name: string) => {
    const url = config.databases[name]?.url;
    if (!url)
      throw new Error(
        `no ${name} database to flip ${route.id}'s writes: set ${config.databases[name]?.variable ?? `upstreams.${name}.database in the route file`}, or run bun run dev`,
      );
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
    const result = await flipWriteOwner({
      route: route.id,
      owner: await open(ownerName),
      candidate: await open(candidateName),
      tables: route.tables,
      followers: route.consumers,
      event: route.event,
      gateway,
      nats,
      namespace: config.FIG_NAMESPACE,
      state,
      holdMs,
      ...(log ? { log } : {}),
    });
    // The flip's own entry, with the verification's numbers (the hold and the owner change are the gateway's).
    const audit = createAuditRecorder({
      nats,
      namespace: config.FIG_NAMESPACE,
      source: "datasync",
      logger: createLogger({ service: "migrate-data", level: "warn" }),
    });
    await audit.record(flipAuditEntry(route.id, result, tokenActor(gatewayToken)));
    await audit.stop();
    return result;
  } finally {
    for (const h of handles) await h.close().catch(() => {});
  }
}

/** The actor a token names (its `sub` and tenant), read without verifying it: the gateway verified it already. */
export function tokenActor(token: string): { sub: string; tenant: string | null } {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString());
    return {
      sub: String(claims.sub ?? "unknown"),
      tenant: typeof claims.tenant === "string" ? claims.tenant : null,
    };
  } catch {
    return { sub: "unknown", tenant: null };
  }
}

/** A flip as an audit entry: the owner before and after, whether it flipped or was refused, and its numbers. */
export function flipAuditEntry(
  route: string,
  result: FlipResult,
  actor: { sub: string; tenant: string | null },
): AuditInput {
  return {
    eventId: `flip:${route}:${result.at}`,
    at: result.at,
    actor,
    kind: "flip",
    subject: route,
    from: { writeOwner: result.from },
    to: { writeOwner: result.outcome === "flipped" ? result.to : result.from },
    reason: `${result.outcome}${result.reason ? `: ${result.reason}` : ""}`,
    data: {
      outcome: result.outcome,
      heldMs: result.heldMs,
      heldWrites: result.heldWrites,
      drainMs: result.drainMs,
      verifyMs: result.verifyMs,
      totalMs: result.totalMs,
      tables: result.tables,
    },
  };
}
