import { afterAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { type BreakerStateChange, createBreakers } from "../../src/policies/breaker.ts";
import { auth, bearer, testGateway, until } from "../harness.ts";
import { closedPortUrl, startUpstream } from "./upstream.ts";

const FIXTURE = new URL("../fixtures/upstream-process.ts", import.meta.url).pathname;
const CLIENTS = 20;
const CONSUMERS = 400;

/** Spawns the upstream fixture in its own process and resolves with its URL once it listens. */
async function spawnUpstream(
  name: string,
  delayMs: number,
): Promise<{ process: Subprocess<"ignore", "pipe", "inherit">; url: string }> {
  const child = Bun.spawn([process.execPath, FIXTURE, name, String(delayMs)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited before it listened`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const { port } = JSON.parse(text.slice(0, text.indexOf("\n"))) as { port: number };
  return { process: child, url: `http://127.0.0.1:${port}` };
}

type Answer = { status: number; servedBy: string | null; afterKill: boolean };

const spawned: Subprocess[] = [];
afterAll(() => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill(9);
});

describe("a candidate killed with SIGKILL under load", () => {
  test("clients see < 0.1 % errors, and the monolith serves the candidate's share after the kill", async () => {
    // Answers after 2 ms, as a database-backed service would: some requests are in flight at the kill.
    const candidate = await spawnUpstream("reference-data", 2);
    spawned.push(candidate.process);
    const monolith = startUpstream(() => Response.json({ from: "monolith" }));
    const breakers = createBreakers();
    const changes: BreakerStateChange[] = [];
    breakers.onStateChange((change) => changes.push(change));
    const g = testGateway({
      urls: { monolith: monolith.url, referenceData: candidate.url, validation: monolith.url },
      perMinute: 1_000_000_000,
      breakers,
    });
    await g.store.change(
      "reference-data",
      { kind: "weights", weights: { monolith: 50, "reference-data": 50 } },
      { who: "test", why: "dead candidate" },
    );
    const gateway = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (r, server) => g.app.fetch(r, server),
    });
    const tokens = await Promise.all(
      Array.from({ length: CONSUMERS }, (_, i) => auth.token({ sub: `consumer-${i}` })),
    );

    const answers: Answer[] = [];
    const failures: string[] = [];
    let killed = false;
    let stop = false;
    let sent = 0;
    const client = async () => {
      while (!stop) {
        const token = tokens[sent++ % CONSUMERS] as string;
        const afterKill = killed;
        try {
          const response = await fetch(`${gateway.url}api/codes/00103`, {
            headers: { authorization: `Bearer ${token}` },
          });
          const body = await response.text();
          answers.push({
            status: response.status,
            servedBy: response.headers.get("fig-served-by"),
            afterKill,
          });
          if (response.status >= 500) failures.push(`${response.status} ${body}`);
        } catch (error) {
          answers.push({ status: 0, servedBy: null, afterKill });
          failures.push(String(error));
        }
      }
    };
    const count = (check: (answer: Answer) => boolean) => answers.filter(check).length;

    try {
      const load = Promise.all(Array.from({ length: CLIENTS }, client));
      // The candidate serves its half first, so the kill lands mid-load on warm connections.
      await until(
        () => count((a) => a.servedBy === "reference-data") >= 300,
        "the candidate to serve 300",
        60_000,
      );
      candidate.process.kill("SIGKILL");
      await candidate.process.exited;
      killed = true;
      // Requests sent after the process was gone: all of them must still be answered, by the monolith.
      await until(
        () => count((a) => a.afterKill && a.servedBy === "monolith") >= 2_000,
        "the monolith to serve 2,000 requests after the kill",
        120_000,
      );
      stop = true;
      await load;

      expect(candidate.process.signalCode).toBe("SIGKILL");
      expect(answers.length).toBeGreaterThan(2_300);
      expect(failures.length / answers.length, failures.slice(0, 5).join("\n")).toBeLessThan(0.001);
      expect(count((a) => a.afterKill && a.servedBy === "reference-data")).toBe(0);
      expect(count((a) => !a.afterKill && a.servedBy === "reference-data")).toBeGreaterThanOrEqual(300);
      // Taken out by the breaker (five refusals in a row), not only routed around request by request.
      expect(changes.some((c) => c.upstream === "reference-data" && c.to === "open")).toBe(true);
    } finally {
      stop = true;
      await gateway.stop(true);
      await monolith.stop();
    }
  }, 180_000);
});

describe("which requests the gateway moves when the candidate refuses the connection", () => {
  const received: { method: string; path: string; body: string }[] = [];
  const monolith = startUpstream(async (request) => {
    received.push({
      method: request.method,
      path: new URL(request.url).pathname,
      body: await request.text(),
    });
    return Response.json({ from: "monolith" }, { status: request.method === "POST" ? 201 : 200 });
  });
  afterAll(() => monolith.stop());

  /** The gateway on a real port (request bodies are then the server's own streams, as in production). */
  async function gatewayOverRefusingCandidates() {
    const refused = await closedPortUrl();
    const g = testGateway({ urls: { monolith: monolith.url, referenceData: refused, validation: refused } });
    const why = { who: "test", why: "refusing candidates" };
    await g.store.change("validation", { kind: "weights", weights: { monolith: 0, validation: 100 } }, why);
    await g.store.change(
      "reference-data",
      { kind: "weights", weights: { monolith: 0, "reference-data": 100 } },
      why,
    );
    await g.store.change("reference-data", { kind: "write-owner", writeOwner: "reference-data" }, why);
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (r, s) => g.app.fetch(r, s) });
    return { url: server.url.href.replace(/\/$/, ""), stop: () => server.stop(true) };
  }

  test("a write that follows the weights (owner-per-request) is served by the monolith, body whole", async () => {
    received.length = 0;
    const gateway = await gatewayOverRefusingCandidates();
    try {
      const body = `code;amount\n${"A;1\n".repeat(20_000)}`;
      const response = await fetch(`${gateway.url}/api/validations`, {
        method: "POST",
        headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "text/csv" },
        body,
      });
      expect(response.status).toBe(201);
      expect(response.headers.get("fig-served-by")).toBe("monolith");
      expect(received).toEqual([{ method: "POST", path: "/api/validations", body }]);
    } finally {
      await gateway.stop();
    }
  });

  test("a write to the route's write owner, and a pinned read, go nowhere else: 502", async () => {
    received.length = 0;
    const gateway = await gatewayOverRefusingCandidates();
    try {
      const write = await fetch(`${gateway.url}/api/codes/00103`, {
        method: "PUT",
        headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "application/json" },
        body: JSON.stringify({ label: "x" }),
      });
      expect(write.status).toBe(502);
      expect(write.headers.get("fig-served-by")).toBe("reference-data");
      const pinned = await fetch(`${gateway.url}/api/files`, {
        headers: { ...(await bearer({ roles: ["gate"] })), "x-fig-route": "validation" },
      });
      expect(pinned.status).toBe(502);
      expect(received).toEqual([]);
      // The same read unpinned is the monolith's.
      const read = await fetch(`${gateway.url}/api/files`, { headers: await bearer() });
      expect(read.headers.get("fig-served-by")).toBe("monolith");
      expect(received.map((r) => r.path)).toEqual(["/api/files"]);
    } finally {
      await gateway.stop();
    }
  });
});
