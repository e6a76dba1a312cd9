import { hostname } from "node:os";
import { type Budget, budgetsOf } from "../budgets.ts";
import type { GatewayRoute } from "../gateway-client.ts";
import type { PromotionRecord } from "../schema.ts";
import { viewOf } from "../view.ts";
import type { PromoteOptions } from "./options.ts";
import { iso, promotionEvent } from "./promotion-run.ts";

/** The route as the gateway holds it, and what a promotion of it needs: who is stable, which gate, which budgets. */
export type PromotionTarget = {
  live: GatewayRoute;
  /** The route's upstreams in the gateway's order (weights are written in it). */
  order: string[];
  stable: string;
  script: string;
  gateEnv: Record<string, string>;
  budgets: Budget[];
};

/** Reads the route and refuses a promotion that cannot run: unknown candidate, nothing to fall back to, no gate. */
export async function resolveTarget(options: PromoteOptions): Promise<PromotionTarget> {
  const { route, candidate } = options;
  const live = await options.gateway.route(route);
  const order = live.upstreams.map((u) => u.name);
  if (!order.includes(candidate))
    throw new Error(`route ${route} has no upstream ${candidate}; it has ${order.join(", ")}`);
  const stable =
    options.resume?.value.stable ??
    [...live.upstreams].filter((u) => u.name !== candidate).sort((a, b) => b.weight - a.weight)[0]?.name;
  if (!stable) throw new Error(`route ${route} has no upstream besides ${candidate} to fall back to`);
  const script = options.gate ?? options.resume?.value.gate.script ?? live.gate?.script ?? undefined;
  if (!script)
    throw new Error(`route ${route} declares no gate script in routes.ts; pass --gate loadtests/<x>.js`);
  const gateEnv = { ...options.env };
  const budgets = await budgetsOf(script, gateEnv);
  return { live, order, stable, script, gateEnv, budgets };
}

/** Saves the promotion's record as running: the resumed one, or a new one (superseding one a dead process left). */
export async function openRecord(
  options: PromoteOptions,
  target: PromotionTarget,
  id: string,
): Promise<{ current: PromotionRecord; revision: number }> {
  const { store, actor } = options;
  if (options.resume) {
    const current: PromotionRecord = {
      ...options.resume.value,
      state: "running",
      control: "run",
      pid: process.pid,
      host: hostname(),
      events: [...options.resume.value.events, promotionEvent(actor, "resumed", `resumed by ${actor}`)],
      updatedAt: iso(),
    };
    return { current, revision: await store.save(current, options.resume.revision) };
  }
  await supersedeAbandoned(options, id);
  const current = newRecord(options, target, id);
  return { current, revision: await store.save(current) };
}

/** A promotion left running by a dead process (it is "paused" in every view) is superseded by a new one. */
async function supersedeAbandoned({ store, route, actor }: PromoteOptions, id: string) {
  const previous = await store.latest(route);
  if (!previous || viewOf(previous.value, null).effectiveState !== "paused") return;
  const reason = `superseded by promotion ${id}`;
  await store
    .save(
      {
        ...previous.value,
        state: "superseded",
        finishedAt: iso(),
        reason,
        events: [...previous.value.events, promotionEvent(actor, "superseded", reason)],
      },
      previous.revision,
    )
    .catch(() => {});
}

function newRecord(
  options: PromoteOptions,
  { live, stable, script }: PromotionTarget,
  id: string,
): PromotionRecord {
  const { route, candidate, actor } = options;
  const now = iso();
  return {
    id,
    route,
    candidate,
    stable,
    state: "running",
    control: "run",
    steps: options.steps,
    step: -1,
    stepDurationMs: options.stepDurationMs,
    minRequests: options.minRequests,
    inconclusiveDeadlineMs: options.inconclusiveDeadlineMs,
    gate: {
      script,
      vus: options.vus,
      ...(options.gateIdentity ? { token: options.gateIdentity } : {}),
    },
    shadow: options.shadow,
    weights: Object.fromEntries(live.upstreams.map((u) => [u.name, u.weight])),
    intent: null,
    actor,
    host: hostname(),
    pid: process.pid,
    startedAt: now,
    updatedAt: now,
    finishedAt: null,
    reason: null,
    decisions: [],
    events: [
      promotionEvent(
        actor,
        "started",
        `route ${route}: ${stable} → candidate ${candidate}, steps ${options.steps.join(",")} of ${options.stepDurationMs} ms, gate ${script}`,
      ),
    ],
  };
}
