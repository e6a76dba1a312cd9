#!/usr/bin/env bun
// bun run migrate-data <backfill|verify|flip|status|relay|follow> <route> [--json]
// Data during the migration: copy the write owner's data into the candidate, compare both sides, and move
// write ownership through the gateway. What moves is the route's `fig.data` in the route file (FIG_ROUTES_FILE);
// each side's database is its upstream's `database: { env: … }` (unset, the URL a running `bun run dev` wrote to
// .data/dev-databases.json). Talks to both databases directly, to NATS (FIG_NAMESPACE) and to the gateway's admin
// API (GATEWAY_URL).
import { parseArgs } from "node:util";
import { mintDevToken, resolveDevSecret } from "@fig/auth";
import { createDatabase, type DatabaseHandle } from "@fig/db";
import { createNatsClient, createOutboxRelay, type NatsClient } from "@fig/events";
import { createLogger } from "@fig/service";
import { Registry } from "prom-client";
import { backfill } from "./backfill.ts";
import { createFollowerSync } from "./component.ts";
import { type CliConfig, loadCliConfig } from "./config.ts";
import { type DataRoute, dataRouteOf, otherSide } from "./data-routes.ts";
import { flipWriteOwner, gatewayAdmin } from "./flip.ts";
import { hasTable, requireSyncKeys } from "./preflight.ts";
import { createDatasyncState } from "./state.ts";
import { followerBacklog, formatStatus, outboxPending, type RouteStatus, recentLag } from "./status.ts";
import { formatVerify, verifySides } from "./verify.ts";

const USAGE = `usage: bun run migrate-data <backfill|verify|flip|status|relay|follow> <route> [--json] [--hold-ms N] [--drain-ms N] [--side S]
  backfill  copy the write owner's tables into the candidate (idempotent, resumable; progress on stderr)
  verify    compare both sides: counts, checksums, first differing keys (exit 1 on a mismatch)
  flip      hold writes at the gateway, drain the sync, verify, switch the write owner, release
            (--hold-ms: how long a write may wait at the hold; --drain-ms: how long the drain may take before
            the flip is refused, default 10000)
  status    write owner, sync lag and backlog, last verify, last flip
  relay     publish the write owner's outbox to JetStream until stopped (SIGINT/SIGTERM): Fig's outbox relay
            for an app that is not a Fig service (its outbox table: docs/data-migration.md)
  follow    apply the other side's changes to --side's database (default: the route's first backendRef, the
            legacy app) while the other side owns the writes, until stopped: the follower a Fig service runs
            itself, for an app that is not one (its sync_keys and inbox tables: docs/data-migration.md)
<route>: a route of the route file that declares fig.data`;

const err = (line: string) => process.stderr.write(`${line}\n`);

/** host:port/database, never the credentials. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

async function open(route: DataRoute, config: CliConfig, name: string): Promise<DatabaseHandle> {
  const side = config.databases[name];
  if (!side?.url)
    throw new Error(
      `no ${name} database: start \`bun run dev\` (it writes its databases' URLs to ${config.DATA_DIR}/dev-databases.json), ` +
        (side?.variable
          ? `or set ${side.variable} (migrate-data reads and writes it directly)`
          : `or declare upstreams.${name}.database: { env: … } in ${config.FIG_ROUTES_FILE}`) +
        ` to move ${route.id}'s data`,
    );
  err(`${name} database: ${describeUrl(side.url)} (from ${side.source})`);
  return createDatabase({
    service: `migrate-data-${name}`,
    url: side.url,
    poolMax: 4,
    statementTimeoutMs: 120_000,
  });
}

/** A dev operator token: role operator in the operator tenant (the control plane's), admin for older gateways. */
async function gatewayToken(config: CliConfig) {
  if (config.GATEWAY_TOKEN) return config.GATEWAY_TOKEN;
  const { issuer, audience } = config.auth;
  return mintDevToken({
    secret: resolveDevSecret(config.auth),
    issuer,
    audience,
    sub: "migrate-data",
    tenant: config.FIG_OPERATOR_TENANT,
    roles: ["operator", "admin"],
    ttl: "10m",
  });
}

const rate = (n: number) => `${Math.round(n).toLocaleString("en")} rows/s`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      "hold-ms": { type: "string" },
      "drain-ms": { type: "string" },
      side: { type: "string" },
    },
  });
  const [command, routeId] = positionals;
  if (
    !command ||
    !routeId ||
    !["backfill", "verify", "flip", "status", "relay", "follow"].includes(command)
  ) {
    err(USAGE);
    return 2;
  }
  const config = loadCliConfig();
  const route = dataRouteOf(config.routeFile.file, routeId);
  const nats = createNatsClient({ servers: config.NATS_URL, name: "migrate-data" });
  const state = createDatasyncState(nats, config.FIG_NAMESPACE);
  const handles: DatabaseHandle[] = [];
  const print = (text: string, json: unknown) =>
    process.stdout.write(`${values.json ? JSON.stringify(json) : text}\n`);
  try {
    if (command === "follow")
      return await followFor(route, config, nats, values.side ?? route.sides[0], handles);
    const ownerName = await state.writeOwner(route.id, route.seedOwner);
    const candidateName = otherSide(route, ownerName);
    const ownerDb = await open(route, config, ownerName);
    handles.push(ownerDb);
    if (command === "relay") return await relayOutbox(ownerDb, ownerName, config, nats);
    const candidateDb = await open(route, config, candidateName);
    handles.push(candidateDb);
    const owner = { name: ownerName, db: ownerDb.db };
    const candidate = { name: candidateName, db: candidateDb.db };

    if (command === "backfill") {
      err(`backfill ${route.id}: ${ownerName} (write owner) → ${candidateName}`);
      await requireSyncKeys(candidate);
      let lastLine = 0;
      const result = await backfill({
        route: route.id,
        owner,
        candidate,
        tables: route.tables,
        event: route.event,
        state,
        batch: config.MIGRATE_BATCH,
        onProgress: (p) => {
          if (Date.now() - lastLine < 500 && p.copied < p.total) return;
          lastLine = Date.now();
          const eta = p.etaSeconds === null ? "?" : `${p.etaSeconds.toFixed(0)} s`;
          err(`  ${p.table}: ${p.copied}/${p.total} rows, ${rate(p.rowsPerSecond)}, ETA ${eta}`);
        },
      });
      const verify = await verifySides({ owner, candidate, tables: route.tables });
      await state.update(route.id, (s) => ({
        ...s,
        lastVerify: verify,
        lastBackfill: { at: new Date().toISOString(), ...result },
      }));
      err(`${result.resumed ? "resumed and " : ""}done: ${rate(result.rowsPerSecond)}`);
      for (const t of result.tables)
        err(
          `  ${t.table}: ${t.rows} rows read, ${t.written} written, ${t.deleted} deleted, ${t.events} ${route.event} events`,
        );
      if (!result.outbox)
        err(`  ${candidateName} has no outbox table: no ${route.event} events recorded for what was written`);
      print(formatVerify(verify), { backfill: result, verify });
      return verify.ok ? 0 : 1;
    }

    if (command === "verify") {
      const verify = await verifySides({ owner, candidate, tables: route.tables });
      await state.update(route.id, (s) => ({ ...s, lastVerify: verify }));
      print(formatVerify(verify), verify);
      if (!verify.ok) {
        const names = verify.tables
          .filter((t) => !t.equal)
          .flatMap((t) => t.differences.map((d) => `${t.table}/${d.key} (${d.kind})`));
        err(`mismatch: ${names.join(", ") || "checksums differ"}`);
      }
      return verify.ok ? 0 : 1;
    }

    if (command === "flip") {
      const gateway = gatewayAdmin(config.GATEWAY_URL, await gatewayToken(config));
      const current = await gateway.writeOwner(route.id);
      if (current !== ownerName)
        throw new Error(`the gateway says ${current} owns ${route.id}, NATS KV says ${ownerName}`);
      err(`flip ${route.id}: ${ownerName} → ${candidateName}`);
      const holdMs = values["hold-ms"] ? Number(values["hold-ms"]) : config.FLIP_HOLD_MS;
      const drainTimeoutMs = values["drain-ms"] ? Number(values["drain-ms"]) : undefined;
      if (drainTimeoutMs !== undefined && !(Number.isInteger(drainTimeoutMs) && drainTimeoutMs > 0))
        throw new Error(
          `--drain-ms must be a positive whole number of milliseconds, got ${values["drain-ms"]}`,
        );
      const result = await flipWriteOwner({
        route: route.id,
        owner,
        candidate,
        tables: route.tables,
        followers: route.consumers,
        event: route.event,
        gateway,
        nats,
        namespace: config.FIG_NAMESPACE,
        state,
        holdMs,
        drainTimeoutMs,
        log: (line) => err(`  ${line}`),
      });
      const text =
        `${formatVerify(result.verify)}\n` +
        `${result.outcome === "flipped" ? `FLIPPED: ${candidateName} now owns the writes of ${route.id}` : `REFUSED: ${result.reason}; ${ownerName} still owns the writes`}\n` +
        `  writes held ${result.heldMs} ms (${result.heldWrites} writes waited), drain ${result.drainMs} ms, verify ${result.verifyMs} ms, total ${result.totalMs} ms`;
      print(text, result);
      return result.outcome === "flipped" ? 0 : 1;
    }

    const data = await state.route(route.id);
    const status: RouteStatus = {
      route: route.id,
      owner: ownerName,
      candidate: candidateName,
      follower: route.consumers[ownerName] as string,
      outboxPending: await outboxPending(owner.db, route.event),
      backlog: await followerBacklog(nats, config.FIG_NAMESPACE, route.consumers[ownerName] as string),
      lag: await recentLag(candidate.db, ownerName),
      lastVerify: data.lastVerify ?? null,
      lastFlip: data.flips.at(-1) ?? null,
      backfill: (await state.checkpoint(route.id)) ?? null,
    };
    print(formatStatus(status), status);
    return 0;
  } finally {
    for (const h of handles) await h.close().catch(() => {});
    await nats.close();
  }
}

/** Fig's outbox relay over the owner's database, until SIGINT or SIGTERM; the rows it publishes are marked sent. */
async function relayOutbox(
  database: DatabaseHandle,
  ownerName: string,
  config: CliConfig,
  nats: ReturnType<typeof createNatsClient>,
): Promise<number> {
  const logger = createLogger({ service: `migrate-data-relay-${ownerName}`, pretty: false });
  const relay = createOutboxRelay({ database, nats, namespace: config.FIG_NAMESPACE, logger });
  const stopped = new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await relay.start();
  err(`relay: publishing ${ownerName}'s outbox to ${config.FIG_NAMESPACE}.events.* (stop with Ctrl-C)`);
  await stopped;
  await relay.stop();
  err("relay: stopped");
  return 0;
}

/**
 * The follower of `side` (a route's legacy app, which runs none of its own), until SIGINT or SIGTERM: while the
 * other side owns the route's writes, its changes are applied to `side`'s database, as a Fig service's own
 * follower (createFollowerSync) applies them to its database. Refused before it starts when that database lacks
 * the follower's tables.
 */
async function followFor(
  route: DataRoute,
  config: CliConfig,
  nats: NatsClient,
  side: string,
  handles: DatabaseHandle[],
): Promise<number> {
  const origin = otherSide(route, side);
  const database = await open(route, config, side);
  handles.push(database);
  await requireSyncKeys({ name: side, db: database.db });
  if (!(await hasTable(database.db, "inbox")))
    throw new Error(
      `${side}'s database has no inbox table (the follower records each applied event id there): create it ` +
        "with the DDL in docs/bring-your-own-monolith.md (section 6)",
    );
  const logger = createLogger({ service: `migrate-data-follow-${side}`, pretty: false });
  const follower = createFollowerSync({
    route,
    origin,
    database,
    nats,
    namespace: config.FIG_NAMESPACE,
    logger,
    registry: new Registry(),
  });
  const stopped = new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  follower.start();
  err(
    `follow: applying ${origin}'s ${route.event} to ${side}'s tables while ${origin} owns ${route.id}'s writes (stop with Ctrl-C)`,
  );
  await stopped;
  await follower.stop();
  err("follow: stopped");
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    err(`migrate-data: ${(error as Error).message}`);
    process.exit(1);
  },
);
