import { describe, expect, test } from "bun:test";
import { createApp, createFaultInjection, createLogger } from "@fig/service";
import { createTestAuth } from "@fig/testing";
import { runService, type ServiceConfig } from "../src/index.ts";
import { exitProbe, testServiceConfig } from "./helpers.ts";

// Fault injection through the real bootstrap and a real socket: off unless FIG_FAULTS, and when on the share
// of 500s and the latency are what was asked.
const auth = createTestAuth();
const silent = createLogger({ service: "faults-test", level: "silent" });

const configWith = testServiceConfig;

async function start(overrides: Partial<ServiceConfig>) {
  const { exit, exited } = exitProbe();
  const started = await runService({
    service: { name: "faults-test", version: "0.0.0" },
    loadConfig: () => configWith(overrides),
    exit,
    build: () => {
      const app = createApp({ name: "faults-test", version: "0.0.0", logger: silent });
      app.get("/api/things", (c) => c.json({ ok: true }));
      return { app };
    },
  });
  const base = `http://127.0.0.1:${started.port}`;
  return {
    base,
    stop: async () => {
      void started.shutdown("SIGTERM");
      expect(await exited).toBe(0);
    },
  };
}

const operator = async () => ({
  authorization: `Bearer ${await auth.token({ tenant: "platform", roles: ["operator"] })}`,
});

async function statuses(base: string, n: number) {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await fetch(`${base}/api/things`)).status);
  return out;
}

describe("fault injection", () => {
  test("off by default: /_fig/faults is 404 and nothing is injected", async () => {
    const service = await start({ FIG_FAULT_ERROR_RATE: 1 });
    try {
      const res = await fetch(`${service.base}/_fig/faults`, { headers: await operator() });
      expect(res.status).toBe(404);
      expect(new Set(await statuses(service.base, 20))).toEqual(new Set([200]));
    } finally {
      await service.stop();
    }
  });

  test("FIG_FAULTS=1 with FIG_FAULT_ERROR_RATE=1: every /api request is a 500 problem, probes are spared", async () => {
    const service = await start({ FIG_FAULTS: true, FIG_FAULT_ERROR_RATE: 1 });
    try {
      const res = await fetch(`${service.base}/api/things`);
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.headers.get("fig-fault")).toBe("error");
      expect(((await res.json()) as { detail: string }).detail).toContain("Injected fault");
      expect((await fetch(`${service.base}/health`)).status).toBe(200);
      expect((await fetch(`${service.base}/metrics`)).status).toBe(200);
    } finally {
      await service.stop();
    }
  });

  // The switch fails the service for every tenant: only the platform's operators hold it, never a tenant's admin.
  describe("/_fig/faults: operators only", () => {
    const settings = { errorRate: 1, latencyMs: 0 };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const callers: [string, number, () => Promise<Record<string, string>>][] = [
      ["no token", 401, async () => ({})],
      ["a malformed token", 401, async () => bearer("not-a-jwt")],
      ["a token signed with another key", 401, async () => bearer((await auth.invalidTokens()).foreignKey)],
      ["an expired token", 401, async () => bearer((await auth.invalidTokens()).expired)],
      ["a tenant's viewer", 403, async () => bearer(await auth.token({ roles: ["viewer"] }))],
      ["a tenant's admin", 403, async () => bearer(await auth.token({ roles: ["admin"] }))],
      [
        "another tenant's admin",
        403,
        async () => bearer(await auth.token({ tenant: "acme", roles: ["admin"] })),
      ],
      [
        "an admin of the operator tenant",
        403,
        async () => bearer(await auth.token({ tenant: "platform", roles: ["admin"] })),
      ],
      [
        "role operator in a tenant",
        403,
        async () => bearer(await auth.token({ tenant: "acme", roles: ["operator"] })),
      ],
      ["an operator", 200, async () => bearer(await auth.token({ tenant: "platform", roles: ["operator"] }))],
    ];

    test.each(callers)(
      "%s: GET and PUT answer %d; only an operator's PUT changes the settings",
      async (_, status, headers) => {
        const service = await start({ FIG_FAULTS: true });
        try {
          const url = `${service.base}/_fig/faults`;
          const read = await fetch(url, { headers: await headers() });
          expect(read.status).toBe(status);
          const put = await fetch(url, {
            method: "PUT",
            headers: { ...(await headers()), "content-type": "application/json" },
            body: JSON.stringify(settings),
          });
          expect(put.status).toBe(status);
          if (status !== 200) expect(put.headers.get("content-type")).toBe("application/problem+json");
          const now = await fetch(url, { headers: await operator() });
          expect(await now.json()).toEqual(status === 200 ? settings : { errorRate: 0, latencyMs: 0 });
        } finally {
          await service.stop();
        }
      },
    );

    test("FIG_OPERATOR_TENANT names the operators' tenant: an operator of `platform` is then refused", async () => {
      const service = await start({ FIG_FAULTS: true, FIG_OPERATOR_TENANT: "ops" });
      try {
        const url = `${service.base}/_fig/faults`;
        expect((await fetch(url, { headers: await operator() })).status).toBe(403);
        const ops = bearer(await auth.token({ tenant: "ops", roles: ["operator"] }));
        expect((await fetch(url, { headers: ops })).status).toBe(200);
      } finally {
        await service.stop();
      }
    });
  });

  test("an operator's PUT is validated, and changes the share at run time", async () => {
    const service = await start({ FIG_FAULTS: true });
    try {
      const url = `${service.base}/_fig/faults`;
      const bad = await fetch(url, {
        method: "PUT",
        headers: { ...(await operator()), "content-type": "application/json" },
        body: JSON.stringify({ errorRate: 2 }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { errors: { location: string }[] }).errors[0]?.location).toBe(
        "body.errorRate",
      );

      expect(new Set(await statuses(service.base, 10))).toEqual(new Set([200]));
      const put = await fetch(url, {
        method: "PUT",
        headers: { ...(await operator()), "content-type": "application/json" },
        body: JSON.stringify({ errorRate: 1 }),
      });
      expect(await put.json()).toEqual({ errorRate: 1, latencyMs: 0 });
      expect(new Set(await statuses(service.base, 10))).toEqual(new Set([500]));
      const read = await fetch(url, { headers: await operator() });
      expect(await read.json()).toEqual({ errorRate: 1, latencyMs: 0 });
    } finally {
      await service.stop();
    }
  });

  test("the share of 500s is honoured (seeded random: exactly the draws under the rate fail)", async () => {
    // A deterministic sequence, so the count is exact rather than statistical.
    let i = 0;
    const draws = Array.from({ length: 200 }, (_, k) => ((k * 37) % 200) / 200);
    const faults = createFaultInjection({
      errorRate: 0.05,
      checkOperator: async () => null,
      random: () => draws[i++] as number,
    });
    const fetchApp = faults.wrap(() => new Response("ok"));
    let failed = 0;
    for (let k = 0; k < 200; k++)
      if ((await fetchApp(new Request("http://x/api/things"))).status === 500) failed++;
    expect(failed).toBe(10);
  });

  test("latency is added before the request reaches the app (the app sees it later than the client sent it)", async () => {
    const faults = createFaultInjection({ latencyMs: 150, checkOperator: async () => null });
    let reachedAt = 0;
    const fetchApp = faults.wrap(() => {
      reachedAt = performance.now();
      return new Response("ok");
    });
    const sentAt = performance.now();
    await fetchApp(new Request("http://x/api/things"));
    // Bun.sleep(150) never wakes early: a lower bound, not a timing assertion on speed.
    expect(reachedAt - sentAt).toBeGreaterThanOrEqual(149);
  });
});
