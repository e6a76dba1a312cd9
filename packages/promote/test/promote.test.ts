import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createAuditRecorder } from "@fig/audit/publish";
import { readEnvelope, streamNames } from "@fig/events";
import { createLogger } from "@fig/service";
import { rollbackRoute } from "../src/commands.ts";
import { type PromoteOptions, runPromotion } from "../src/promote.ts";
import type { PromotionView } from "../src/schema.ts";
import { LockHeldError } from "../src/store.ts";
import { CANDIDATE, ROUTE, type Stack, spawnCli, startStack, until } from "./harness.ts";

const READ = join(import.meta.dir, "fixtures", "read.js");
const IDLE = join(import.meta.dir, "fixtures", "idle.js");
const WRITE = join(import.meta.dir, "fixtures", "write.js");

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack.reset();
});

function options(overrides: Partial<PromoteOptions> = {}): PromoteOptions {
  return {
    route: ROUTE,
    candidate: CANDIDATE,
    steps: [50, 100],
    stepDurationMs: 1000,
    minRequests: 20,
    inconclusiveDeadlineMs: 3000,
    gate: READ,
    vus: 4,
    shadow: null,
    baseUrl: stack.baseUrl,
    gateToken: stack.gateToken,
    actor: "alice",
    store: stack.store,
    gateway: stack.gateway,
    leaseMs: 1000,
    engine: "builtin",
    ...overrides,
  };
}

async function promotions(route = ROUTE): Promise<PromotionView[]> {
  const res = await fetch(`${stack.baseUrl}/_fig/promotions?route=${route}`, {
    headers: { authorization: `Bearer ${stack.operatorToken}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { promotions: PromotionView[] }).promotions;
}

const latest = async () => (await promotions()).at(-1) as PromotionView;

describe("promotion outcomes", () => {
  test("healthy candidate → 100 %, every decision with the numbers behind it", async () => {
    const outcome = await runPromotion(options());
    expect(outcome.state).toBe("promoted");
    expect(await stack.weights()).toEqual({ monolith: 0, [CANDIDATE]: 100 });

    const record = await latest();
    expect(record.effectiveState).toBe("promoted");
    expect(record.decisions.map((d) => [d.step, d.verdict])).toEqual([
      [1, "pass"],
      [2, "pass"],
    ]);
    for (const d of record.decisions) {
      expect(d.actor).toBe("alice");
      expect(d.gate?.engine).toBe("builtin");
      expect(d.gate?.pin).toBe(CANDIDATE);
      expect(d.gate?.numbers.requests).toBeGreaterThan(0);
      expect(d.gate?.thresholds.map((t) => t.expression).sort()).toEqual(["p(95)<500", "rate<0.01"]);
      // The gateway saw the candidate alone (the gate's pinned requests), at least --min-requests of them.
      expect(d.gateway?.upstream).toBe(CANDIDATE);
      expect(d.gateway?.numbers.requests).toBeGreaterThanOrEqual(20);
      expect(d.gateway?.numbers.p95).not.toBeNull();
      expect(d.gateway?.numbers.errorRate).toBe(0);
      expect(d.gateway?.thresholds.every((t) => t.ok)).toBe(true);
      // Read from GET /_fig/routes/{id}/counters: the one gateway process, whole.
      expect(d.gateway?.processes).toEqual({ of: 1, answered: 1 });
      expect(d.gateway?.partial).toBeNull();
      expect(d.gate?.summary).toHaveProperty("metrics.http_reqs");
    }
    expect(record.decisions[0]?.weights).toEqual({ monolith: 50, [CANDIDATE]: 50 });
    // The intent was recorded before each change and cleared after it.
    expect(record.intent).toBeNull();
    expect(record.events.filter((e) => e.what === "weights").map((e) => e.weights)).toEqual([
      { monolith: 50, [CANDIDATE]: 50 },
      { monolith: 0, [CANDIDATE]: 100 },
    ]);
  });

  test("each decision and the outcome go to the audit log with their numbers; the gateway records the weights", async () => {
    const logger = createLogger({ service: "promote-test", level: "silent" });
    const recorder = createAuditRecorder({
      nats: stack.nats,
      namespace: stack.namespace,
      source: "promote",
      logger,
    });
    const outcome = await runPromotion(options({ audit: { recorder, tenant: "platform" } }));
    expect(outcome.state).toBe("promoted");
    expect(recorder.pending()).toHaveLength(0);
    const id = outcome.record.id;

    // What reached JetStream: the gateway's entries were published before its answers to promote.
    const js = await stack.nats.jetstream();
    const consumer = await js.consumers.get(streamNames(stack.namespace).events, {
      filter_subjects: `${stack.namespace}.events.audit.recorded.>`,
    });
    const acts = [];
    for await (const msg of await consumer.fetch({ max_messages: 500, expires: 2000 })) {
      const event = readEnvelope(msg.headers, msg.data);
      acts.push({ source: event.source, ...(event.data as Record<string, unknown>) } as Record<
        string,
        unknown
      >);
      if ((await consumer.info(true)).num_pending === 0) break;
    }
    const mine = acts.filter((a) => (a.data as { promotion?: string } | null)?.promotion === id);
    expect(mine.map((a) => [a.kind, (a.data as { step?: number }).step ?? null])).toEqual([
      ["promotion-step", 1],
      ["promotion-step", 2],
      ["promotion-end", null],
    ]);
    for (const step of mine.slice(0, 2)) {
      expect(step).toMatchObject({
        source: "promote",
        actor: { sub: "alice", tenant: "platform" },
        subject: ROUTE,
      });
      const data = step.data as {
        verdict: string;
        gateway: { numbers: { requests: number } };
        gate: { verdict: string };
      };
      expect(data.verdict).toBe("pass");
      expect(data.gate.verdict).toBe("pass");
      expect(data.gateway.numbers.requests).toBeGreaterThanOrEqual(20);
    }
    expect(mine[2]).toMatchObject({
      to: { monolith: 0, [CANDIDATE]: 100 },
      reason: expect.stringContaining("promoted"),
    });
    const weights = acts.filter(
      (a) => a.source === "gateway" && String(a.reason).includes(`promotion ${id}`),
    );
    expect(weights.map((a) => a.to)).toEqual([
      { monolith: 50, [CANDIDATE]: 50 },
      { monolith: 0, [CANDIDATE]: 100 },
    ]);
    await recorder.stop();
  });

  test("5 % injected 500s → rolled back at the first step, the reason and numbers recorded", async () => {
    stack.faults.set({ errorRate: 0.05 });
    // A slow machine may need more than one window for --min-requests; it holds, it never passes.
    const outcome = await runPromotion(options({ steps: [10, 50, 100], inconclusiveDeadlineMs: 60_000 }));
    expect(outcome.state).toBe("rolled-back");
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    const record = await latest();
    const decision = record.decisions.at(-1);
    expect(record.decisions.every((d) => d.step === 1)).toBe(true);
    expect(record.decisions.slice(0, -1).every((d) => d.verdict === "inconclusive")).toBe(true);
    expect(decision?.verdict).toBe("fail");
    expect(decision?.reason).toContain("http_req_failed rate<0.01");
    // The candidate fails exactly one request in 20 (deterministic draws), however many fit in the window:
    // the failures counted are requests/20 up to the window's two edges, whatever the machine's speed.
    const gate = decision?.gate?.numbers as { errorRate: number; requests: number };
    expect(gate.requests).toBeGreaterThanOrEqual(20);
    expect(Math.abs(Math.round(gate.errorRate * gate.requests) - gate.requests / 20)).toBeLessThanOrEqual(2);
    const gateway = decision?.gateway as { errors: number; numbers: { requests: number } };
    expect(gateway.numbers.requests).toBeGreaterThanOrEqual(20);
    expect(Math.abs(gateway.errors - gateway.numbers.requests / 20)).toBeLessThanOrEqual(2);
    expect(record.reason).toContain("step 1 of 3");
  });

  test("a gate refused on every request (403: its token lacks editor) says so in plain words", async () => {
    const outcome = await runPromotion(options({ gate: WRITE, inconclusiveDeadlineMs: 60_000 }));
    expect(outcome.state).toBe("rolled-back");
    const decision = (await latest()).decisions.at(-1);
    expect(decision?.verdict).toBe("fail");
    expect(decision?.gate?.refusals).toEqual([
      "every create-code request was refused 403 (Requires role editor or higher; the token has gate)",
    ]);
    expect(decision?.reason).toStartWith(
      "every create-code request was refused 403 (Requires role editor or higher; the token has gate); gate http_req_failed rate<0.01 was 1",
    );
    expect(outcome.reason).toContain("every create-code request was refused 403");
  });

  test("+300 ms latency against a p95 budget of 200 ms → rolled back", async () => {
    stack.faults.set({ latencyMs: 300 });
    const outcome = await runPromotion(options({ env: { P95_BUDGET: "200" }, vus: 10, minRequests: 10 }));
    expect(outcome.state).toBe("rolled-back");
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    const decision = (await latest()).decisions[0];
    expect(decision?.verdict).toBe("fail");
    expect(decision?.reason).toContain("http_req_duration p(95)<200");
    expect(decision?.gate?.numbers.p95).toBeGreaterThanOrEqual(300);
    // The histogram puts them in the 250–500 ms bucket: over the budget there too.
    expect(decision?.gateway?.numbers.p95).toBeGreaterThan(200);
  });

  test("no traffic → inconclusive, held, then failed at the deadline: never promoted", async () => {
    const outcome = await runPromotion(options({ gate: IDLE, inconclusiveDeadlineMs: 2000 }));
    expect(outcome.state).toBe("rolled-back");
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    const record = await latest();
    const verdicts = record.decisions.map((d) => d.verdict);
    expect(verdicts).not.toContain("pass");
    expect(verdicts.at(-1)).toBe("fail");
    expect(verdicts.slice(0, -1).every((v) => v === "inconclusive")).toBe(true);
    expect(record.decisions.every((d) => d.step === 1)).toBe(true);
    expect(record.decisions.at(-1)?.reason).toContain("inconclusive until the deadline");
    expect(record.decisions.at(-1)?.gateway?.numbers.requests).toBe(0);
  });
});

describe("commands and safety", () => {
  test("rollback restores 100 % stable at once; the running promotion stops; a new promotion then works", async () => {
    const running = runPromotion(options({ stepDurationMs: 60_000 }));
    await until(async () => (await stack.weights())[CANDIDATE] === 50, "step 1's weights");
    await rollbackRoute({ store: stack.store, gateway: stack.gateway, route: ROUTE, actor: "bob" });
    // At once: the rollback call itself set the weights.
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    const outcome = await running;
    expect(outcome.state).toBe("rolled-back");
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    const record = await latest();
    expect(record.state).toBe("rolled-back");
    expect(record.events.at(-1)).toMatchObject({ what: "rollback", actor: "bob" });

    // A plain new promotion of the rolled-back route.
    const again = await runPromotion(options());
    expect(again.state).toBe("promoted");
    expect(await stack.weights()).toEqual({ monolith: 0, [CANDIDATE]: 100 });
    expect((await promotions()).map((p) => p.state).slice(-2)).toEqual(["rolled-back", "promoted"]);
  });

  test("two promotions of one route at once: the second is refused by the KV lock", async () => {
    const first = runPromotion(options({ stepDurationMs: 60_000 }));
    await until(async () => (await stack.store.readLock(ROUTE))?.value, "the first promotion's lock");
    await expect(runPromotion(options())).rejects.toBeInstanceOf(LockHeldError);
    // The CLI says so and exits 3.
    const cli = spawnCli(stack, [
      ROUTE,
      "--to",
      CANDIDATE,
      "--gate",
      READ,
      "--steps",
      "100",
      "--step-duration",
      "1s",
      "--engine",
      "builtin",
    ]);
    expect(await cli.exited).toBe(3);
    expect(await new Response(cli.stderr).text()).toContain("refused");
    await rollbackRoute({ store: stack.store, gateway: stack.gateway, route: ROUTE, actor: "alice" });
    expect((await first).state).toBe("rolled-back");
  });

  test("kill -9 of promote mid-step: status shows it paused with the weights it holds; resume finishes it", async () => {
    const cli = spawnCli(stack, [
      ROUTE,
      "--to",
      CANDIDATE,
      "--gate",
      READ,
      "--steps",
      "25,100",
      "--step-duration",
      "60s",
      "--min-requests",
      "20",
      "--engine",
      "builtin",
    ]);
    await until(async () => (await stack.weights())[CANDIDATE] === 25, "step 1's weights");
    await until(async () => (await latest()).weights[CANDIDATE] === 25, "the record of step 1's weights");
    cli.kill("SIGKILL");
    await cli.exited;

    // The record still says running; once the lease lapses every view says paused, holding 25 %.
    const view = await until(async () => {
      const v = await latest();
      return v.effectiveState === "paused" ? v : undefined;
    }, "the promotion to show paused");
    expect(view.state).toBe("running");
    expect(view.interrupted).toBe(true);
    expect(view.weights).toEqual({ monolith: 75, [CANDIDATE]: 25 });
    expect(await stack.weights()).toEqual(view.weights);

    const status = spawnCli(stack, ["status", ROUTE]);
    expect(await status.exited).toBe(0);
    const text = await new Response(status.stdout).text();
    expect(text).toContain("paused (interrupted");
    expect(text).toContain('gateway weights now: {"monolith":75,"reference-data":25}');

    // Resume in a new process continues the same promotion from its step (short windows this time).
    const resumed = await runPromotion(
      options({ resume: (await stack.store.latest(ROUTE)) ?? undefined, stepDurationMs: 1000 }),
    ).catch((e) => e);
    expect(resumed.state).toBe("promoted");
    expect(resumed.record.id).toBe(view.id);
    expect(await stack.weights()).toEqual({ monolith: 0, [CANDIDATE]: 100 });
  });

  test("SIGINT: the route is recorded paused with the weights it holds, and the CLI exits 4", async () => {
    const cli = spawnCli(stack, [
      ROUTE,
      "--to",
      CANDIDATE,
      "--gate",
      READ,
      "--steps",
      "10,100",
      "--step-duration",
      "60s",
      "--engine",
      "builtin",
    ]);
    await until(async () => (await latest()).weights[CANDIDATE] === 10, "the record of step 1's weights");
    cli.kill("SIGINT");
    expect(await cli.exited).toBe(4);
    const view = await latest();
    expect(view.state).toBe("paused");
    expect(view.interrupted).toBe(false);
    expect(view.weights).toEqual({ monolith: 90, [CANDIDATE]: 10 });
    expect(view.events.at(-1)?.what).toBe("interrupted");
    expect(await stack.weights()).toEqual(view.weights);
    expect(await stack.store.readLock(ROUTE)).toBeNull();
  });
});

describe("shadow step", () => {
  const shadowOptions = () =>
    options({ shadow: { durationMs: 1500, budget: 0.01 }, steps: [100], minRequests: 20 });

  test("a candidate with a changed field fails it: the diffs are recorded, no weight ever moved", async () => {
    stack.setAnswer((upstream) => ({
      items: [{ code: "A1", label: upstream === "monolith" ? "Alpha" : "ALPHA" }],
      total: 1,
    }));
    const outcome = await runPromotion(shadowOptions());
    expect(outcome.state).toBe("rolled-back");
    const record = await latest();
    expect(record.decisions).toHaveLength(1);
    const decision = record.decisions[0];
    expect(decision?.step).toBe(0);
    expect(decision?.verdict).toBe("fail");
    expect(decision?.shadow?.mismatchRate).toBeGreaterThan(0.01);
    expect(JSON.stringify(decision?.shadow?.samples)).toContain("/items/0/label");
    expect(record.events.some((e) => e.what === "weights")).toBe(false);
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
  });

  test("a candidate differing only in a noisy timestamp passes it and is promoted", async () => {
    let n = 0;
    stack.setAnswer(() => ({ items: [{ code: "A1", label: "Alpha" }], total: 1, generatedAt: `t-${n++}` }));
    const outcome = await runPromotion(shadowOptions());
    expect(outcome.state).toBe("promoted");
    const shadow = (await latest()).decisions[0];
    expect(shadow?.step).toBe(0);
    expect(shadow?.verdict).toBe("pass");
    expect(shadow?.shadow?.compared).toBeGreaterThanOrEqual(20);
    expect(shadow?.shadow?.noiseFields).toContain("/generatedAt");
  });
});

describe("the gate token the CLI mints", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnCli(
      stack,
      [
        ROUTE,
        "--to",
        CANDIDATE,
        "--steps",
        "100",
        "--step-duration",
        "1s",
        "--min-requests",
        "20",
        "--engine",
        "builtin",
        ...args,
      ],
      {
        // No given gate token: the CLI mints one from the route's declaration (routes.ts).
        FIG_GATE_TOKEN: "",
        ...env,
      },
    );

  test("minted with the roles and tenant the route's gate declares; the output names route and candidate", async () => {
    const declared = (await stack.gateway.route(ROUTE)).gate;
    expect(declared).toEqual({
      script: "loadtests/reference-data.js",
      roles: ["viewer", "gate"],
      tenant: "fig",
    });
    const cli = run(["--gate", READ, "--inconclusive-deadline", "60s"]);
    const [code, out] = await Promise.all([cli.exited, new Response(cli.stdout).text()]);
    expect({ code, out }).toMatchObject({ code: 0 });
    const record = await latest();
    expect(record.gate.token).toEqual({ roles: ["viewer", "gate"], tenant: "fig", minted: true });
    expect(out).toContain("gate token: minted, roles viewer, gate in tenant fig");
    expect(out).toContain(`route ${ROUTE}: monolith → candidate ${CANDIDATE}: promoted`);
    expect(record.events[0]?.detail).toStartWith(`route ${ROUTE}: monolith → candidate ${CANDIDATE}, `);
  });

  test("a refused gate: the CLI's verdict says which requests were refused and why", async () => {
    // --gate-token (here the environment's FIG_GATE_TOKEN) overrides the declaration: role gate alone.
    const cli = run(["--gate", WRITE, "--inconclusive-deadline", "60s"], { FIG_GATE_TOKEN: stack.gateToken });
    const [code, out] = await Promise.all([cli.exited, new Response(cli.stdout).text()]);
    expect(code).toBe(1);
    expect(out).toContain("gate token: given, roles gate in tenant");
    expect(out).toContain(
      `route ${ROUTE}: monolith → candidate ${CANDIDATE}: rolled-back — step 1 of 1: every create-code request was refused 403 (Requires role editor or higher; the token has gate)`,
    );
  });
});
