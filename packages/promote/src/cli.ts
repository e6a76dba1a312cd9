import { parseArgs } from "node:util";
import { type AuditRecorder, createAuditRecorder } from "@fig/audit/publish";
import { isRole, mintDevToken, type Role, resolveDevSecret } from "@fig/auth";
import { flipRouteWrites, loadCliConfig } from "@fig/datasync";
import { createNatsClient } from "@fig/events";
import { type EngineChoice, parseDuration } from "@fig/loadgate";
import { ConfigError, createLogger } from "@fig/service";
import { pauseRoute, resumeLive, rollbackRoute } from "./commands.ts";
import { loadPromoteConfig, type PromoteConfig } from "./config.ts";
import { flipWritesStep } from "./flip-writes.ts";
import { createGatewayClient, type GatewayClient } from "./gateway-client.ts";
import { createProgressPrinter } from "./progress.ts";
import { runPromotion } from "./promote.ts";
import type { PromotionView } from "./schema.ts";
import { createPromotionStore, LockHeldError, promotionsBucketName } from "./store.ts";
import { promotionHeadline, promotionViews } from "./view.ts";

const USAGE = `Usage:
  bun run promote <route> --to <upstream> [--steps 10,25,50,100] [--step-duration 60s] [--gate loadtests/x.js]
                  [--shadow 60s] [--shadow-budget 0.01] [--min-requests 50] [--inconclusive-deadline 3m]
                  [--vus 5] [--engine auto|builtin|k6] [--base-url http://127.0.0.1:8080] [--token JWT]
                  [--gate-token JWT] [--tenant fig]
                  [--flip-writes]   after 100 % reads passed: move the write ownership (migrate-data flip;
                                    reads each side's database from its upstream's database: in the route
                                    file, else the URLs bun run dev wrote to DATA_DIR/dev-databases.json)
  bun run promote status [route] [--json]
  bun run promote rollback <route> [--reason text]
  bun run promote pause <route> [--reason text]
  bun run promote resume <route> [--reason text]

The gate token is minted with the roles and tenant the route's gate declares (fig.gate in the route file: what its journey
needs, e.g. editor to upload); --gate-token (or FIG_GATE_TOKEN) replaces it, --tenant changes its tenant.
The admin API's token is an operator's: --token (or FIG_PROMOTE_TOKEN), else a dev token with role operator
in FIG_OPERATOR_TENANT (default platform).
Every step sets the weights through the gateway's admin API, runs the gate pinned to the candidate and reads
the gateway's numbers for the candidate; pass → next step, fail → 100 % stable at once, too few candidate
requests → hold, then fail at the deadline. Decisions and their numbers are kept in NATS KV.
Exit codes: 0 promoted (or command done), 1 rolled back, 2 usage, 3 refused (lock held), 4 paused,
5 promoted but writes not flipped (--flip-writes: verify failed or the flip could not run; ownership unchanged).`;

class UsageError extends Error {}

export const EXIT = { ok: 0, rolledBack: 1, usage: 2, refused: 3, paused: 4, writesNotFlipped: 5 } as const;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        to: { type: "string" },
        steps: { type: "string", default: "10,25,50,100" },
        "step-duration": { type: "string", default: "60s" },
        gate: { type: "string" },
        shadow: { type: "string" },
        "shadow-budget": { type: "string", default: "0.01" },
        "min-requests": { type: "string", default: "50" },
        "inconclusive-deadline": { type: "string" },
        vus: { type: "string", default: "5" },
        engine: { type: "string", default: "auto" },
        "base-url": { type: "string" },
        token: { type: "string" },
        "gate-token": { type: "string" },
        tenant: { type: "string" },
        reason: { type: "string" },
        json: { type: "boolean", default: false },
        "flip-writes": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, not ${text}`);
  return n;
}

function durationMs(text: string, flag: string): number {
  try {
    const ms = parseDuration(text, flag);
    if (ms <= 0) throw new Error(`${flag} must be positive`);
    return Math.round(ms);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function parseSteps(text: string): number[] {
  const steps = text.split(",").map((s) => Number(s.trim()));
  if (steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100))
    throw new UsageError(`--steps: integer percentages 1..100, not ${text}`);
  if (steps.some((s, i) => i > 0 && s <= (steps[i - 1] as number)))
    throw new UsageError("--steps must increase");
  if (steps.at(-1) !== 100) throw new UsageError("--steps must end at 100");
  return steps;
}

/** The claims of a JWT (unverified: they name the actor and the gate's identity in the records). */
function claimsOf(token: string): { sub?: string; roles?: string[]; tenant?: string } {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString());
  } catch {
    return {};
  }
}

type Values = ReturnType<typeof parse>["values"];
const DEFAULT_TENANT = "fig";

function minter(config: PromoteConfig) {
  return (sub: string, roles: Role[], tenant: string) =>
    mintDevToken({
      secret: resolveDevSecret(config.auth),
      sub,
      tenant,
      roles,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      ttl: "12h",
    });
}

/**
 * The token for the gateway's admin API: --token / FIG_PROMOTE_TOKEN as given, else a dev operator's (role
 * operator in the operator tenant: /_fig admits no tenant's admin). Not the gate's token: that one reads and
 * pins inside a tenant.
 */
async function operatorToken(config: PromoteConfig, values: Values) {
  const given = values.token ?? config.FIG_PROMOTE_TOKEN;
  const admin = given ?? (await minter(config)(config.USER, ["operator"], config.FIG_OPERATOR_TENANT));
  return { admin, actor: claimsOf(admin).sub ?? config.USER };
}

export type GateToken = { token: string; roles: string[]; tenant: string; minted: boolean };

/**
 * The gate's token: --gate-token / FIG_GATE_TOKEN as given, else minted with exactly the roles and tenant the
 * route's gate declares (what its journey needs); a route that declares none gets role gate alone.
 */
async function gateToken(
  config: PromoteConfig,
  values: Values,
  gateway: GatewayClient,
  route: string,
  actor: string,
): Promise<GateToken> {
  const given = values["gate-token"] ?? config.FIG_GATE_TOKEN;
  if (given) {
    const claims = claimsOf(given);
    return { token: given, roles: claims.roles ?? [], tenant: claims.tenant ?? "?", minted: false };
  }
  const declared = (await gateway.route(route)).gate;
  const roles = declared?.roles ?? ["gate"];
  const unknown = roles.filter((r) => !isRole(r));
  if (unknown.length > 0)
    throw new Error(`route ${route} declares unknown gate roles ${unknown.join(", ")} in routes.ts`);
  const tenant = values.tenant ?? declared?.tenant ?? DEFAULT_TENANT;
  const token = await minter(config)(`${actor}:gate`, roles.filter(isRole), tenant);
  return { token, roles, tenant, minted: true };
}

function printView(view: PromotionView, live: Record<string, number> | null) {
  const state = view.interrupted
    ? `paused (interrupted: the promote process stopped without recording it; last heartbeat ${view.lock?.heartbeatAt ?? "gone"})`
    : view.effectiveState;
  console.log(`${promotionHeadline(view)}: ${state}`);
  console.log(`  promotion ${view.id} by ${view.actor}, started ${view.startedAt}`);
  console.log(
    `  step ${Math.max(view.step, 0)} of ${view.steps.length} [${view.steps.join(", ")}] · holds ${JSON.stringify(view.weights)}`,
  );
  if (view.intent)
    console.log(
      `  intent recorded, maybe not applied: ${JSON.stringify(view.intent.weights)} at ${view.intent.at}`,
    );
  if (live) console.log(`  gateway weights now: ${JSON.stringify(live)}`);
  if (view.reason) console.log(`  reason: ${view.reason}`);
  for (const d of view.decisions) {
    const gw = d.gateway?.numbers;
    const g = d.gate?.numbers;
    console.log(
      `  · step ${d.step}${d.attempt > 1 ? ` (window ${d.attempt})` : ""} ${JSON.stringify(d.weights)} ${d.verdict} at ${d.at}: ` +
        `gate[${d.gate?.engine ?? "-"}] p95 ${g?.p95?.toFixed(1) ?? "–"} ms, errors ${g?.errorRate ?? "–"}, ${g?.requests ?? 0} req; ` +
        (d.shadow
          ? `shadow ${d.shadow.mismatches}/${d.shadow.compared} mismatched (budget ${d.shadow.budget})`
          : `gateway p95 ${gw?.p95?.toFixed(1) ?? "–"} ms, errors ${gw?.errorRate ?? "–"}, ${gw?.requests ?? 0} req`) +
        ` — ${d.reason}`,
    );
  }
}

/** What every command of one `promote` process shares: flags, config, the store, the gateway, who acts. */
type Session = {
  config: PromoteConfig;
  values: Values;
  baseUrl: string;
  nats: ReturnType<typeof createNatsClient>;
  store: ReturnType<typeof createPromotionStore>;
  gateway: GatewayClient;
  admin: string;
  actor: string;
  /** Each decision and the outcome go to the audit log (JetStream) as the operator's acts. */
  audit: AuditRecorder;
};

type Printer = ReturnType<typeof createProgressPrinter>;
type Outcome = Awaited<ReturnType<typeof runPromotion>>;

function needRoute(command: string, route: string | undefined): string {
  if (!route) throw new UsageError(`promote ${command} needs a route`);
  return route;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const config = loadPromoteConfig();
  const baseUrl = values["base-url"] ?? config.FIG_GATEWAY_URL;
  const nats = createNatsClient({ servers: config.NATS_URL, name: "promote" });
  const store = createPromotionStore({
    connection: () => nats.connection(),
    bucket: promotionsBucketName(config.FIG_NAMESPACE),
  });
  const audit = createAuditRecorder({
    nats,
    namespace: config.FIG_NAMESPACE,
    source: "promote",
    logger: createLogger({ service: "promote", level: "warn" }),
  });
  try {
    const { admin, actor } = await operatorToken(config, values);
    const gateway = createGatewayClient({ baseUrl, token: admin });
    const session: Session = { config, values, baseUrl, nats, store, gateway, admin, actor, audit };
    const [command, route] = positionals as [string, string | undefined];
    if (command === "status") return await statusCommand(session, route);
    if (command === "rollback") {
      const { weights } = await rollbackRoute({
        store,
        gateway,
        route: needRoute(command, route),
        actor,
        reason: values.reason,
      });
      console.log(`route ${route}: rolled back, weights ${JSON.stringify(weights)}`);
      return EXIT.ok;
    }
    if (command === "pause") {
      await pauseRoute({ store, route: needRoute(command, route), actor, reason: values.reason });
      console.log(
        `route ${route}: pause requested; the promotion holds its weights after the current window`,
      );
      return EXIT.ok;
    }
    return await promoteCommand(session, positionals);
  } finally {
    // A last try at entries still pending; what stays pending is printed in full on stderr.
    await audit.stop();
    await nats.close().catch(() => {});
  }
}

/** With a route: its latest promotion (--json: every one); without: the latest of every route. */
async function statusCommand({ store, gateway, values }: Session, route: string | undefined) {
  const all = await promotionViews(store, route);
  const views = route && !values.json ? all.slice(-1) : all;
  if (values.json) console.log(JSON.stringify(views, null, 2));
  else if (views.length === 0) console.log(route ? `${route}: never promoted` : "no promotions recorded");
  for (const view of values.json ? [] : views) {
    const live = await gateway
      .route(view.route)
      .then((r) => Object.fromEntries(r.upstreams.map((u) => [u.name, u.weight])))
      .catch(() => null);
    printView(view, live);
  }
  return EXIT.ok;
}

/** `promote <route> --to <candidate>` or `promote resume <route>`: runs the promotion in this process. */
async function promoteCommand(session: Session, positionals: string[]): Promise<number> {
  const { values } = session;
  const [command, route] = positionals as [string, string | undefined];
  const printer = createProgressPrinter();
  const signals = new AbortController();
  const onSignal = () => signals.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  if (!["auto", "builtin", "k6"].includes(values.engine as string))
    throw new UsageError(`--engine must be auto, builtin or k6, not ${values.engine}`);
  if (command !== "resume") {
    if (positionals.length > 1) throw new UsageError(`unexpected ${positionals.slice(1).join(" ")}`);
    if (!values.to) throw new UsageError("--to <upstream> is required");
  }
  const common = (gateRoute: string) => runCommon(session, printer, signals.signal, gateRoute);
  let outcome: Outcome;
  if (command === "resume") {
    const { actor, store } = session;
    const resumed = await resumeLive({
      store,
      route: needRoute(command, route),
      actor,
      reason: values.reason,
    });
    if (resumed.live) {
      console.log(`route ${route}: resume requested; the running promotion goes on`);
      return EXIT.ok;
    }
    const r = resumed.stored.value;
    printer.log(
      `${promotionHeadline(r)}: resuming promotion ${r.id} at step ${Math.max(r.step, 1)} of ${r.steps.length} in this process`,
    );
    outcome = await runPromotion({
      ...(await common(r.route)),
      route: r.route,
      candidate: r.candidate,
      steps: r.steps,
      stepDurationMs: r.stepDurationMs,
      minRequests: r.minRequests,
      inconclusiveDeadlineMs: r.inconclusiveDeadlineMs,
      vus: r.gate.vus,
      shadow: r.shadow,
      resume: resumed.stored,
    });
  } else {
    const steps = stepOptions(command, values); // every usage error before the gate token is minted
    outcome = await runPromotion({ ...(await common(command)), ...steps });
  }
  printer.log(
    `${promotionHeadline(outcome.record)}: ${outcome.state}${outcome.reason ? ` — ${outcome.reason}` : ""}`,
  );
  return await exitWith(session, outcome, printer);
}

/** What every run of the promotion in this process shares, with the gate token the route's journey needs. */
async function runCommon(session: Session, printer: Printer, signal: AbortSignal, gateRoute: string) {
  const { config, values, gateway, actor } = session;
  const gate = await gateToken(config, values, gateway, gateRoute, actor);
  printer.log(
    `gate token: ${gate.minted ? "minted" : "given"}, roles ${gate.roles.join(", ") || "none"} in tenant ${gate.tenant}`,
  );
  return {
    baseUrl: session.baseUrl,
    gateToken: gate.token,
    gateIdentity: { roles: gate.roles, tenant: gate.tenant, minted: gate.minted },
    actor,
    store: session.store,
    gateway,
    audit: { recorder: session.audit, tenant: claimsOf(session.admin).tenant ?? null },
    leaseMs: config.FIG_PROMOTE_LEASE_MS,
    engine: values.engine as EngineChoice,
    signal,
    onProgress: printer.update,
    log: printer.log,
  };
}

/** A new promotion's steps, windows and gate, from the flags. */
function stepOptions(route: string, values: Values) {
  const stepDurationMs = durationMs(values["step-duration"] as string, "--step-duration");
  const shadowMs = values.shadow ? durationMs(values.shadow, "--shadow") : null;
  const budget = Number(values["shadow-budget"]);
  if (!(budget >= 0 && budget <= 1)) throw new UsageError("--shadow-budget must be 0..1");
  return {
    route,
    candidate: values.to as string,
    steps: parseSteps(values.steps as string),
    stepDurationMs,
    minRequests: positiveInt(values["min-requests"] as string, "--min-requests"),
    inconclusiveDeadlineMs: values["inconclusive-deadline"]
      ? durationMs(values["inconclusive-deadline"], "--inconclusive-deadline")
      : 3 * stepDurationMs,
    gate: values.gate,
    vus: positiveInt(values.vus as string, "--vus"),
    shadow: shadowMs === null ? null : { durationMs: shadowMs, budget },
  };
}

/** The exit code of the outcome; a promoted route with --flip-writes first moves its write ownership. */
async function exitWith(session: Session, outcome: Outcome, printer: Printer): Promise<number> {
  if (outcome.state === "promoted" && session.values["flip-writes"]) {
    const { record } = outcome;
    const flip = await flipWritesStep({
      store: session.store,
      route: record.route,
      id: record.id,
      actor: session.actor,
      log: printer.log,
      flip: () =>
        flipRouteWrites({
          route: record.route,
          config: loadCliConfig(),
          nats: session.nats,
          gatewayUrl: session.baseUrl,
          gatewayToken: session.admin,
          log: (line) => printer.log(`  ${line}`),
        }),
    });
    return flip.flipped ? EXIT.ok : EXIT.writesNotFlipped;
  }
  if (outcome.state === "promoted") return EXIT.ok;
  if (outcome.state === "paused") return EXIT.paused;
  return EXIT.rolledBack;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`promote: ${error.message}\n\n${USAGE}`);
      process.exitCode = EXIT.usage;
    } else if (error instanceof LockHeldError) {
      console.error(`promote: refused: ${error.message}`);
      process.exitCode = EXIT.refused;
    } else if (error instanceof ConfigError) {
      console.error(`promote: ${error.message}`);
      process.exitCode = EXIT.usage;
    } else {
      console.error(`promote: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  }
  // The builtin gate engine and NATS may leave handles; the outcome is recorded, so exit now.
  process.exit(process.exitCode);
}
