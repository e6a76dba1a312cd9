import { describe, expect, test } from "bun:test";
import { createRateLimiter, limitFor } from "../../src/policies/rate-limit.ts";
import { bearer, nameSend, testGateway } from "../harness.ts";

describe("token bucket", () => {
  test("capacity, refill over a minute, Reset and Retry-After in seconds", () => {
    let now = 0;
    const limiter = createRateLimiter({ now: () => now });
    for (let i = 0; i < 100; i++) expect(limiter.take("r", "alice", 100).allowed).toBe(true);
    const refused = limiter.take("r", "alice", 100);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1, resetSeconds: 60 });
    now += 600; // 100/min = one token per 600 ms
    expect(limiter.take("r", "alice", 100).allowed).toBe(true);
    expect(limiter.take("r", "bob", 100).remaining).toBe(99); // per consumer
    expect(limiter.take("other", "alice", 100).remaining).toBe(99); // per route
  });

  test("the highest role limit wins; gate has its own", () => {
    const policy = { perMinute: 100, byRole: { gate: 1_000_000 } };
    expect(limitFor(policy, ["viewer"])).toBe(100);
    expect(limitFor(policy, ["viewer", "gate"])).toBe(1_000_000);
    expect(limitFor(policy, undefined)).toBe(100);
  });

  test("bounded: past maxKeys the oldest bucket goes", () => {
    const limiter = createRateLimiter({ maxKeys: 10 });
    for (let i = 0; i < 50; i++) limiter.take("r", `u${i}`, 5);
    expect(limiter.size()).toBe(10);
    // The 10 newest kept their count; the oldest start again full.
    expect(limiter.take("r", "u49", 5).remaining).toBe(3);
    expect(limiter.take("r", "u0", 5).remaining).toBe(4);
    expect(limiter.size()).toBe(10);
    // Across routes: one bucket per route and consumer, the oldest of all dropped first.
    const mixed = createRateLimiter({ maxKeys: 3 });
    mixed.take("a", "x", 5);
    mixed.take("b", "x", 5);
    mixed.take("a", "y", 5);
    mixed.take("b", "y", 5); // drops a/x
    expect(mixed.size()).toBe(3);
    expect(mixed.take("b", "x", 5).remaining).toBe(3);
    expect(mixed.take("a", "x", 5).remaining).toBe(4); // a/x was dropped: full again (b/x, now the oldest, goes)
    // Many drops: the order list is compacted, the count stays right.
    const churn = createRateLimiter({ maxKeys: 5 });
    for (let i = 0; i < 5000; i++) churn.take("r", `c${i}`, 5);
    expect(churn.size()).toBe(5);
    expect(churn.take("r", "c4999", 5).remaining).toBe(3);
  });
});

describe("through the gateway", () => {
  test("every response carries RateLimit-*; the 4th request of a 3/min consumer is a 429 with Retry-After", async () => {
    const g = testGateway({ send: nameSend, perMinute: 3 });
    const headers = await bearer({ sub: "limited" });
    for (let i = 0; i < 3; i++) {
      const res = await g.app.request("/api/codes", { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-limit")).toBe("3");
      expect(res.headers.get("ratelimit-remaining")).toBe(String(2 - i));
      expect(Number(res.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
    }
    const refused = await g.app.request("/api/codes", { headers });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    // Another route has its own bucket; a 401 counts against the client's address, and says so.
    expect((await g.app.request("/api/files", { headers })).status).toBe(200);
    const anonymous = await g.app.request("/api/codes");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("ratelimit-limit")).toBe("3");
    const text = await (await g.app.request("/metrics")).text();
    expect(text).toContain('gateway_rate_limited_total{route="reference-data"} 1');
  });

  test("problem answers after the limiter carry RateLimit-* too: 403 wrong role, 400 bad pin, 502 upstream down", async () => {
    const down = async () => {
      throw new TypeError("Unable to connect. Is the computer able to access the url?");
    };
    const g = testGateway({ send: down, perMinute: 5 });
    const viewer = await bearer({ sub: "problems" });
    const forbidden = await g.app.request("/api/codes", { method: "POST", headers: viewer });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get("ratelimit-remaining")).toBe("4");
    const admin = { ...(await bearer({ sub: "pinning", roles: ["admin"] })), "x-fig-route": "nowhere" };
    const badPin = await g.app.request("/api/codes", { headers: admin });
    expect(badPin.status).toBe(400);
    expect(badPin.headers.get("ratelimit-limit")).not.toBeNull();
    const failed = await g.app.request("/api/codes", { headers: viewer });
    expect(failed.status).toBe(502);
    expect(failed.headers.get("content-type")).toContain("application/problem+json");
    expect(failed.headers.get("ratelimit-remaining")).toBe("3");
    expect(failed.headers.get("ratelimit-policy")).toBe("5;w=60");
  });

  test("the gate role is not throttled at the default limit", async () => {
    const g = testGateway({ send: nameSend, perMinute: 3 });
    const headers = await bearer({ sub: "k6", roles: ["gate"] });
    for (let i = 0; i < 10; i++) expect((await g.app.request("/api/codes", { headers })).status).toBe(200);
  });
});
