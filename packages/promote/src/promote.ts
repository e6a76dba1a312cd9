import { hostname } from "node:os";
import { type EngineChoice, type GateResult, runGate } from "@fig/loadgate";
import { type Budget, budgetsOf, gatewayMeasurement } from "./budgets.ts";
import type { GatewayClient, ShadowRouteCounters } from "./gateway-client.ts";
import { RouteChangedError } from "./gateway-client.ts";
import { parseMetrics, windowOf } from "./prometheus.ts";
import type {
  Decision,
  GateMeasurement,
  GatewayMeasurement,
  Lock,
  PromotionEvent,
  PromotionRecord,
  ShadowMeasurement,
  Verdict,
  Weights,
} from "./schema.ts";
import { newPromotionId, type PromotionStore, RecordChangedError, type Stored } from "./store.ts";
import { viewOf } from "./view.ts";
import { stepWeights } from "./weights.ts";

export { stepWeights };

/** What the live display shows while a step measures. */
export type LiveProgress = {
  step: number;
  of: number;
  weights: Weights;
  phase: "shadow" | "measuring" | "holding" | "paused";
  elapsedMs: number;
  stepElapsedMs: number;
  p95: number | null;
  errorRate: number | null;
  requests: number;
};

export type PromoteOptions = {
  route: string;
  candidate: string;
  steps: number[];
  stepDurationMs: number;
  minRequests: number;
  /** How long a step may stay inconclusive (too few candidate requests) before it fails. */
  inconclusiveDeadlineMs: number;
  /** The gate script; default: the route's `gate` from routes.ts (as the gateway reports it). */
  gate?: string | undefined;
  vus: number;
  shadow: { durationMs: number; budget: number } | null;
  baseUrl: string;
  /** A token with role gate (pins with x-fig-route) and what the journey needs, for the gate script. */
  gateToken: string;
  /** The gate token's roles and tenant, recorded with the promotion (the CLI mints them from routes.ts). */
  gateIdentity?: { roles: string[]; tenant: string; minted: boolean };
  actor: string;
  store: PromotionStore;
  gateway: GatewayClient;
  /** A lock not renewed within this is a dead process's. */
  leaseMs?: number;
  engine?: EngineChoice;
  env?: Record<string, string>;
  /** Abort (SIGINT/SIGTERM): the route is recorded paused, holding its weights. */
  signal?: AbortSignal;
  onProgress?: (p: LiveProgress) => void;
  log?: (line: string) => void;
  /** Continue this (paused) promotion instead of starting a new one (`promote resume`). */
  resume?: Stored<PromotionRecord>;
};

export type PromoteOutcome = {
  state: PromotionRecord["state"];
  record: PromotionRecord;
  reason: string | null;
};

/** The promotion stopped without a verdict of its own: paused by a signal, rolled back or taken over elsewhere. */
class Stop extends Error {
  constructor(
    readonly kind: "interrupted" | "aborted" | "superseded",
    message: string,
  ) {
    super(message);
  }
}

const iso = () => new Date().toISOString();

const failing = (
  where: string,
  list: { ok: boolean; inconclusive: boolean; key: string; expression: string; value: number | null }[],
) =>
  list
    .filter((t) => !t.ok && !t.inconclusive)
    .map((t) => `${where} ${t.key} ${t.expression} was ${t.value === null ? "n/a" : +t.value.toFixed(4)}`);

/**
 * Decides one step from the gate (pinned to the candidate) and the gateway's numbers for the candidate over
 * the same window, against the same budgets. Never a pass on no data: too few candidate requests at the
 * gateway, or a gate threshold without samples, is inconclusive.
 */
export function decide(
  gate: GateMeasurement | null,
  gateway: GatewayMeasurement,
  minRequests: number,
): { verdict: Verdict; reason: string } {
  const enough = gateway.numbers.requests >= minRequests;
  // Plain words first: a gate refused wholesale measured the auth check, whatever its thresholds say.
  const refusals = gate?.refusals ?? [];
  const failures = [
    ...(gate ? failing("gate", gate.thresholds) : []),
    ...(enough ? failing("gateway", gateway.thresholds) : []),
  ];
  if (gate?.verdict === "fail" && failures.length === 0) failures.push("gate failed (see its thresholds)");
  if (refusals.length > 0) return { verdict: "fail", reason: [...refusals, ...failures].join("; ") };
  if (failures.length > 0) return { verdict: "fail", reason: failures.join("; ") };
  if (!enough)
    return {
      verdict: "inconclusive",
      reason: `only ${gateway.numbers.requests} candidate requests at the gateway in the window (--min-requests ${minRequests})`,
    };
  const noData = [
    ...(gate
      ? gate.thresholds.filter((t) => t.inconclusive).map((t) => `gate ${t.key} ${t.expression}`)
      : []),
    ...gateway.thresholds.filter((t) => t.inconclusive).map((t) => `gateway ${t.key} ${t.expression}`),
  ];
  if (gate?.verdict === "inconclusive" || noData.length > 0)
    return { verdict: "inconclusive", reason: `no data for ${noData.join(", ") || "the gate's thresholds"}` };
  return {
    verdict: "pass",
    reason: `gate pass, gateway pass (${gateway.numbers.requests} candidate requests, p95 ${gateway.numbers.p95?.toFixed(1)} ms, errors ${((gateway.numbers.errorRate ?? 0) * 100).toFixed(2)} %)`,
  };
}

function gateMeasurement(script: string, pin: string | null, result: GateResult): GateMeasurement {
  return {
    script,
    engine: result.engine,
    verdict: result.verdict,
    pin,
    numbers: result.numbers,
    refusals: result.refusals,
    thresholds: result.thresholds.map(({ key, expression, ok, inconclusive, value, samples }) => ({
      key,
      expression,
      ok,
      inconclusive,
      value,
      samples,
    })),
    summary: result.summary,
  };
}

/**
 * Runs a canary promotion of one route to a candidate upstream: [shadow] → for each step: record the intent,
 * set the weights (If-Match), run the gate pinned to the candidate while reading the gateway's metrics for
 * the candidate, decide (pass → next, fail → 100 % stable at once, inconclusive → hold until a deadline,
 * then fail). Every decision is recorded with its numbers in NATS KV; a lock in KV refuses a second
 * promotion of the route; a signal leaves the route recorded as paused with the weights it holds.
 *
 * @example
 * const outcome = await runPromotion({ route: "reference-data", candidate: "reference-data", steps: [10, 50, 100], … });
 */
export async function runPromotion(options: PromoteOptions): Promise<PromoteOutcome> {
  const { route, candidate, store, gateway, actor, log = () => {} } = options;
  const leaseMs = options.leaseMs ?? 15_000;
  const live = await gateway.route(route);
  const order = live.upstreams.map((u) => u.name);
  if (!order.includes(candidate))
    throw new Error(`route ${route} has no upstream ${candidate}; it has ${order.join(", ")}`);
  const stable =
    options.resume?.value.stable ??
    [...live.upstreams].filter((u) => u.name !== candidate).sort((a, b) => b.weight - a.weight)[0]?.name;
  if (!stable) throw new Error(`route ${route} has no upstream besides ${candidate} to fall back to`);
  const declared = options.gate ?? options.resume?.value.gate.script ?? live.gate?.script ?? undefined;
  if (!declared)
    throw new Error(`route ${route} declares no gate script in routes.ts; pass --gate loadtests/<x>.js`);
  const script: string = declared;
  const gateEnv = { ...options.env };
  const budgets: Budget[] = await budgetsOf(script, gateEnv);

  const id = options.resume?.value.id ?? newPromotionId();
  const lock: Lock = {
    promotionId: id,
    actor,
    host: hostname(),
    pid: process.pid,
    heartbeatAt: iso(),
    leaseMs,
  };
  let lockRevision = await store.acquire(route, lock); // LockHeldError: a live promotion of this route exists

  const event = (what: PromotionEvent["what"], detail: string | null, weights?: Weights): PromotionEvent => ({
    at: iso(),
    what,
    actor,
    detail,
    ...(weights ? { weights } : {}),
  });

  // A promotion left running by a dead process (it is "paused" in every view) is superseded by a new one.
  if (!options.resume) {
    const previous = await store.latest(route);
    if (previous && viewOf(previous.value, null).effectiveState === "paused") {
      await store
        .save(
          {
            ...previous.value,
            state: "superseded",
            finishedAt: iso(),
            reason: `superseded by promotion ${id}`,
            events: [...previous.value.events, event("superseded", `superseded by promotion ${id}`)],
          },
          previous.revision,
        )
        .catch(() => {});
    }
  }

  let current: PromotionRecord;
  let revision: number;
  if (options.resume) {
    current = {
      ...options.resume.value,
      state: "running",
      control: "run",
      pid: process.pid,
      host: hostname(),
      events: [...options.resume.value.events, event("resumed", `resumed by ${actor}`)],
      updatedAt: iso(),
    };
    revision = await store.save(current, options.resume.revision);
  } else {
    const now = iso();
    current = {
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
        event(
          "started",
          `route ${route}: ${stable} → candidate ${candidate}, steps ${options.steps.join(",")} of ${options.stepDurationMs} ms, gate ${script}`,
        ),
      ],
    };
    revision = await store.save(current);
  }
  let routeRevision = live.revision;
  const started = Date.parse(current.startedAt);

  /** Applies `mutate` to the latest record and saves it; re-reads and re-applies when another command wrote first. */
  async function commit(mutate: (r: PromotionRecord) => void): Promise<PromotionRecord> {
    for (let attempt = 0; ; attempt++) {
      const next = structuredClone(current);
      mutate(next);
      next.updatedAt = iso();
      try {
        revision = await store.save(next, revision);
        current = next;
        return current;
      } catch (error) {
        if (!(error instanceof RecordChangedError) || attempt > 5) throw error;
        const fresh = await store.load(route, id);
        if (!fresh) throw error;
        current = fresh.value;
        revision = fresh.revision;
      }
    }
  }

  // Heartbeat: renew the lock and pick up commands from other terminals (pause, resume, rollback).
  let windowStop: AbortController | undefined; // the gate window running now, if any
  let stopReason: Stop | undefined;
  const halt = (reason: Stop) => {
    stopReason ??= reason;
    windowStop?.abort();
    pauseWake?.();
  };
  const onSignal = () => halt(new Stop("interrupted", "interrupted (signal)"));
  options.signal?.addEventListener("abort", onSignal, { once: true });
  if (options.signal?.aborted) onSignal();
  let paused = false;
  let pauseWake: (() => void) | undefined;
  const heartbeat = setInterval(
    async () => {
      try {
        lockRevision = await store.renew(route, { ...lock, heartbeatAt: iso() }, lockRevision);
      } catch (error) {
        if (error instanceof RecordChangedError)
          halt(new Stop("superseded", "the promotion lock was taken over"));
        return;
      }
      const fresh = await store.load(route, id).catch(() => null);
      if (!fresh || fresh.revision <= revision) return;
      current = fresh.value;
      revision = fresh.revision;
      if (current.state === "rolled-back" || current.control === "abort")
        halt(new Stop("aborted", current.reason ?? "rolled back from another terminal"));
      else if (current.control === "pause" && !paused) {
        paused = true;
        windowStop?.abort();
      } else if (current.control === "run" && paused) pauseWake?.();
    },
    Math.max(100, Math.floor(leaseMs / 4)),
  );

  const checkStop = () => {
    if (stopReason) throw stopReason;
  };

  async function setWeights(weights: Weights, why: string) {
    checkStop();
    await commit((r) => {
      r.intent = { weights, at: iso() };
    });
    try {
      routeRevision = await gateway.setWeights(route, weights, why, routeRevision);
    } catch (error) {
      if (error instanceof RouteChangedError) {
        const fresh = await store.load(route, id);
        if (fresh?.value.state === "rolled-back")
          throw new Stop("aborted", fresh.value.reason ?? "rolled back");
        throw new Error(`route ${route} was changed outside this promotion while it ran`);
      }
      throw error;
    }
    await commit((r) => {
      r.weights = weights;
      r.intent = null;
      r.events.push(event("weights", why, weights));
    });
  }

  /** Holds while paused from another terminal; returns once resumed. */
  async function waitWhilePaused(step: number) {
    if (!paused) return;
    await commit((r) => {
      r.state = "paused";
    });
    log(
      `paused at step ${step} of ${current.steps.length}, holding ${JSON.stringify(current.weights)}; waiting for resume`,
    );
    options.onProgress?.({
      step,
      of: current.steps.length,
      weights: current.weights,
      phase: "paused",
      elapsedMs: Date.now() - started,
      stepElapsedMs: 0,
      p95: null,
      errorRate: null,
      requests: 0,
    });
    while (paused && !stopReason) {
      await new Promise<void>((resolve) => {
        pauseWake = resolve;
        setTimeout(resolve, 1000);
      });
      if (current.control === "run") paused = false;
    }
    checkStop();
    await commit((r) => {
      r.state = "running";
    });
    log("resumed");
  }

  async function runGateWindow(step: number, pin: string | null, durationMs: number, stepStarted: number) {
    windowStop = new AbortController();
    if (stopReason || paused) windowStop.abort();
    try {
      return await runGate({
        script,
        baseUrl: options.baseUrl,
        token: options.gateToken,
        // Unpinned (shadow step): an empty PIN, so the script sends no x-fig-route.
        ...(pin ? { pin, env: gateEnv } : { env: { ...gateEnv, PIN: "" } }),
        vus: options.vus,
        duration: `${durationMs}ms`,
        engine: options.engine ?? "auto",
        signal: windowStop.signal,
        onProgress: (p) =>
          options.onProgress?.({
            step,
            of: current.steps.length,
            weights: current.weights,
            phase: step === 0 ? "shadow" : current.decisions.at(-1)?.step === step ? "holding" : "measuring",
            elapsedMs: Date.now() - started,
            stepElapsedMs: Date.now() - stepStarted,
            p95: p.p95,
            errorRate: p.errorRate,
            requests: p.requests,
          }),
      });
    } finally {
      windowStop = undefined;
    }
  }

  async function recordDecision(decision: Decision) {
    await commit((r) => {
      r.decisions.push(decision);
    });
    log(
      `step ${decision.step} of ${decision.of} ${JSON.stringify(decision.weights)}: ${decision.verdict} (${decision.reason})`,
    );
  }

  /** One step: measure until conclusive (or the deadline); returns the final verdict and reason. */
  async function measureStep(step: number): Promise<{ verdict: Verdict; reason: string }> {
    const stepStarted = Date.now();
    for (let attempt = 1; ; attempt++) {
      checkStop();
      await waitWhilePaused(step);
      const from = iso();
      const before = parseMetrics(await gateway.metrics());
      const result = await runGateWindow(step, candidate, options.stepDurationMs, stepStarted);
      const after = parseMetrics(await gateway.metrics());
      checkStop();
      if (paused) continue; // paused mid-window: the window is discarded, measured again on resume
      const gw = gatewayMeasurement(windowOf(before, after, route, candidate), budgets, candidate, {
        from,
        to: iso(),
      });
      const gate = gateMeasurement(script, candidate, result);
      let { verdict, reason } = decide(gate, gw, current.minRequests);
      if (verdict === "inconclusive" && Date.now() - stepStarted >= current.inconclusiveDeadlineMs) {
        verdict = "fail";
        reason = `inconclusive until the deadline (${current.inconclusiveDeadlineMs} ms): ${reason}`;
      }
      await recordDecision({
        step,
        of: current.steps.length,
        attempt,
        weights: current.weights,
        startedAt: from,
        at: iso(),
        verdict,
        reason,
        minRequests: current.minRequests,
        gate,
        gateway: gw,
        shadow: null,
        actor,
      });
      if (verdict !== "inconclusive") return { verdict, reason };
    }
  }

  async function shadowStep(): Promise<{
    verdict: Verdict;
    reason: string;
    counters: ShadowRouteCounters | null;
  }> {
    const shadow = current.shadow as { durationMs: number; budget: number };
    await commit((r) => {
      r.step = 0;
    });
    const stepStarted = Date.now();
    // The shadow share is route state too: its revision is the one the next weights change must match.
    routeRevision = await gateway.setShadow(route, 100, `promotion ${id}: shadow step`);
    try {
      for (let attempt = 1; ; attempt++) {
        checkStop();
        const from = iso();
        const before = await gateway.shadow(route);
        // Unpinned: the gate's requests go where the weights say (the stable upstream) and are mirrored.
        const result = await runGateWindow(0, null, shadow.durationMs, stepStarted);
        await gateway.drainShadow();
        const after = await gateway.shadow(route);
        checkStop();
        const diff = (k: "compared" | "mismatches" | "noiseOnly" | "candidateErrors") =>
          Math.max(0, (after?.[k] ?? 0) - (before?.[k] ?? 0));
        const compared = diff("compared");
        const mismatches = diff("mismatches");
        const measurement: ShadowMeasurement = {
          compared,
          mismatches,
          noiseOnly: diff("noiseOnly"),
          candidateErrors: diff("candidateErrors"),
          mismatchRate: compared > 0 ? mismatches / compared : null,
          budget: shadow.budget,
          noiseFields: (after?.noise.fields ?? []).map((f) => f.path),
          samples: (after?.samples ?? []).slice(-5),
        };
        let verdict: Verdict;
        let reason: string;
        const refusals = result.refusals;
        if (refusals.length > 0) {
          verdict = "fail";
          reason = refusals.join("; ");
        } else if (compared < current.minRequests) {
          verdict = "inconclusive";
          reason = `only ${compared} mirrored requests compared (--min-requests ${current.minRequests})`;
          if (Date.now() - stepStarted >= current.inconclusiveDeadlineMs) {
            verdict = "fail";
            reason = `inconclusive until the deadline: ${reason}`;
          }
        } else if ((measurement.mismatchRate ?? 0) > shadow.budget) {
          verdict = "fail";
          reason = `shadow mismatch rate ${(measurement.mismatchRate as number).toFixed(4)} over the budget ${shadow.budget} (${mismatches} of ${compared}, after the noise baseline)`;
        } else {
          verdict = "pass";
          reason = `shadow mismatch rate ${(measurement.mismatchRate ?? 0).toFixed(4)} within ${shadow.budget} (${compared} compared, ${measurement.noiseOnly} noise only)`;
        }
        await recordDecision({
          step: 0,
          of: current.steps.length,
          attempt,
          weights: current.weights,
          startedAt: from,
          at: iso(),
          verdict,
          reason,
          minRequests: current.minRequests,
          gate: gateMeasurement(script, null, result),
          gateway: null,
          shadow: measurement,
          actor,
        });
        if (verdict !== "inconclusive") return { verdict, reason, counters: after };
      }
    } finally {
      routeRevision = await gateway
        .setShadow(route, 0, `promotion ${id}: shadow step over`)
        .catch(() => routeRevision);
    }
  }

  async function rollback(reason: string): Promise<PromoteOutcome> {
    const weights = stepWeights(order, stable as string, candidate, 0);
    await commit((r) => {
      r.intent = { weights, at: iso() };
    });
    // No If-Match: going back to stable must win over anything.
    routeRevision = await gateway.setWeights(route, weights, `promotion ${id} rolled back: ${reason}`);
    const record = await commit((r) => {
      r.state = "rolled-back";
      r.control = "abort";
      r.weights = weights;
      r.intent = null;
      r.reason = reason;
      r.finishedAt = iso();
      r.events.push(event("rollback", reason, weights));
    });
    log(`rolled back to 100 % ${stable}: ${reason}`);
    return { state: "rolled-back", record, reason };
  }

  try {
    const resumeFrom = options.resume ? Math.max(1, current.step) : 1;
    if (current.shadow && current.step < 1) {
      const shadowResult = await shadowStep();
      if (shadowResult.verdict !== "pass") {
        for (const sample of (shadowResult.counters?.samples ?? []).slice(-5))
          log(`  diff: ${JSON.stringify(sample)}`);
        return await rollback(`step 0 (shadow): ${shadowResult.reason}`);
      }
    }
    for (let step = resumeFrom; step <= current.steps.length; step++) {
      const percent = current.steps[step - 1] as number;
      await commit((r) => {
        r.step = step;
      });
      await waitWhilePaused(step);
      await setWeights(
        stepWeights(order, stable, candidate, percent),
        `promotion ${id}: step ${step} of ${current.steps.length} (${percent} % ${candidate})`,
      );
      const { verdict, reason } = await measureStep(step);
      if (verdict === "fail") return await rollback(`step ${step} of ${current.steps.length}: ${reason}`);
    }
    const record = await commit((r) => {
      r.state = "promoted";
      r.finishedAt = iso();
      r.reason = `every step passed; candidate ${candidate} holds 100 % of route ${route}`;
      r.events.push(event("promoted", null, r.weights));
    });
    log(`promoted: candidate ${candidate} holds 100 % of route ${route}`);
    return { state: "promoted", record, reason: record.reason };
  } catch (error) {
    if (error instanceof Stop && error.kind === "interrupted") {
      const record = await commit((r) => {
        r.state = "paused";
        r.control = "pause";
        r.reason = `interrupted: holding ${JSON.stringify(r.intent?.weights ?? r.weights)}`;
        r.events.push(event("interrupted", "SIGINT/SIGTERM", r.weights));
      });
      log(`interrupted: ${route} paused at step ${record.step}, holding ${JSON.stringify(record.weights)}`);
      return { state: "paused", record, reason: record.reason };
    }
    if (error instanceof Stop) {
      const fresh = await store.load(route, id);
      const record = fresh?.value ?? current;
      return { state: record.state, record, reason: error.message };
    }
    // Anything unexpected: back to stable, recorded; if even that fails, the record says paused and why.
    const message = (error as Error).message;
    try {
      return await rollback(`error: ${message}`);
    } catch (rollbackError) {
      const record = await commit((r) => {
        r.state = "paused";
        r.reason = `error: ${message}; rollback failed too: ${(rollbackError as Error).message}`;
      }).catch(() => current);
      return { state: "paused", record, reason: record.reason };
    }
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener("abort", onSignal);
    await store.release(route, lockRevision);
  }
}
