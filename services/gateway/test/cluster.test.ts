import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { createNatsClient, deleteNamespace } from "@fig/events";
import { createGatewayClient, readCounters, readCountersAfter, stepWindow } from "@fig/promote";
import { TEST_AUTH, TEST_NATS_URL } from "@fig/testing";
import { PROCESS_HEADER } from "../src/cluster-share.ts";
import { auth, operator, startEchoUpstream, until } from "./harness.ts";

// N = 2 gateway processes (FIG_GATEWAY_PROCESSES) on one port, the real main.ts against real NATS: both answer,
// route state written through one is applied by the other, a sticky key lands on one upstream whichever
// process answers, each process enforces half the rate limit, and the processes go when the first one goes.
const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** 4 a minute: each of the 2 processes enforces 2, refilled one per 30 s, so a test sees no refill. */
const LIMIT = 4;

/** The monolith, whose `…/slow` paths answer after a second: requests still in flight while a process drains. */
const monolith = startEchoUpstream("monolith", async (request) => {
  if (new URL(request.url).pathname.endsWith("/slow")) await Bun.sleep(1000);
  return Response.json({ upstream: "monolith" });
});
const candidate = startEchoUpstream("reference-data");
const namespaces: string[] = [];
const started: Bun.Subprocess[] = [];

afterAll(async () => {
  for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  monolith.stop();
  candidate.stop();
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-cluster-cleanup" });
  for (const namespace of namespaces) await deleteNamespace(await nats.manager(), namespace);
  await nats.close();
});

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

type Cluster = { proc: Bun.Subprocess; base: string; output: () => string };

function startCluster(processes: number): Cluster {
  const port = freePort();
  const namespace = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
  namespaces.push(namespace);
  const proc = Bun.spawn(["bun", MAIN], {
    env: {
      PATH: Bun.env.PATH ?? "",
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "warn",
      NATS_URL: TEST_NATS_URL,
      FIG_NAMESPACE: namespace,
      FIG_GATEWAY_PROCESSES: String(processes),
      AUTH_DEV_SECRET: TEST_AUTH.secret,
      AUTH_ISSUER: TEST_AUTH.issuer,
      AUTH_AUDIENCE: TEST_AUTH.audience,
      MONOLITH_URL: monolith.url,
      REFERENCE_DATA_URL: candidate.url,
      VALIDATION_URL: monolith.url,
      RATE_LIMIT_PER_MINUTE: String(LIMIT),
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  started.push(proc);
  // Read as it comes (a full pipe would block the gateway): its warnings, one JSON line each.
  let output = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) output += decoder.decode(chunk, { stream: true });
  })();
  return { proc, base: `http://127.0.0.1:${port}`, output: () => output };
}

/**
 * A request on a connection of its own: the kernel picks the process per connection (a hash of the
 * client's address and port), so a kept-alive connection would meet one process every time.
 */
async function once(url: string, init: RequestInit = {}) {
  const response = await fetch(url, { ...init, keepalive: false });
  const text = await response.text();
  return { response, text, process: response.headers.get(PROCESS_HEADER) };
}

/** Sends `send` until each of the processes has answered `each` times; returns the answers by process. */
async function fromEveryProcess<T extends { process: string | null }>(
  send: () => Promise<T>,
  { processes = 2, each = 1, what = "an answer from every process" } = {},
): Promise<Map<string, T[]>> {
  const answers = new Map<string, T[]>();
  const enough = () =>
    answers.size === processes && [...answers.values()].every((list) => list.length >= each);
  await until(async () => {
    const answer = await send();
    const list = answers.get(String(answer.process)) ?? [];
    list.push(answer);
    answers.set(String(answer.process), list);
    return enough();
  }, what);
  return answers;
}

/** The pids of the processes `pid` started (every thread's children, from /proc). */
function childrenOf(pid: number): number[] {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number),
  );
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitForBoth(cluster: Cluster) {
  await until(
    async () => (await fetch(`${cluster.base}/ready`).catch(() => undefined))?.status === 200,
    "process 0 to be ready",
    30_000,
  );
  // Each process is ready on its own (its KV watch, its NATS connection): wait until the latest answer of
  // every process to /ready is 200, not only process 0's.
  await until(
    async () => {
      const answers = await fromEveryProcess(() => once(`${cluster.base}/ready`)).catch(() => undefined);
      return (
        answers !== undefined && [...answers.values()].every((list) => list.at(-1)?.response.status === 200)
      );
    },
    "both processes to be ready",
    30_000,
  );
}

async function setWeights(base: string, weights: Record<string, number>) {
  const { response, text, process } = await once(`${base}/_fig/routes/reference-data/weights`, {
    method: "PUT",
    // Operators are rate limited on /_fig too (the default route's limit): a sub of its own per change.
    headers: { ...(await operator(`op-${crypto.randomUUID()}`)), "content-type": "application/json" },
    body: JSON.stringify({ weights, reason: "cluster test" }),
  });
  expect(response.status, text).toBe(200);
  return process;
}

/** Until each process's own view of the live state (GET /_fig/routes, answered by it) has these weights. */
async function everyProcessHas(base: string, weights: Record<string, number>) {
  await until(
    async () => {
      const answers = await fromEveryProcess(async () => {
        const answer = await once(`${base}/_fig/routes`, {
          headers: await operator(`op-${crypto.randomUUID()}`),
        });
        const body = JSON.parse(answer.text) as {
          routes: { id: string; upstreams: { name: string; weight: number }[] }[];
        };
        const route = body.routes.find((r) => r.id === "reference-data");
        const live = Object.fromEntries(route?.upstreams.map((u) => [u.name, u.weight]) ?? []);
        return { ...answer, live };
      });
      // The latest answer of each process counts: one from before its watch delivered the change is older.
      return [...answers.values()].every((list) => Bun.deepEquals(list.at(-1)?.live, weights));
    },
    `both processes to hold ${JSON.stringify(weights)}`,
  );
}

/** Until each process's own view of the route (GET /_fig/routes, answered by it) is at `revision` or later. */
async function everyProcessAt(base: string, revision: number) {
  await until(async () => {
    const answers = await fromEveryProcess(async () => {
      const answer = await once(`${base}/_fig/routes`, {
        headers: await operator(`op-${crypto.randomUUID()}`),
      });
      const body = JSON.parse(answer.text) as { routes: { id: string; revision: number }[] };
      return { ...answer, revision: body.routes.find((r) => r.id === "reference-data")?.revision ?? 0 };
    });
    return [...answers.values()].every((list) => (list.at(-1)?.revision ?? 0) >= revision);
  }, `both processes at revision ${revision}`);
}

/** A reader with the `gate` role, whose limit is far above what these tests send. */
const reader = (sub: string) =>
  auth.token({ sub, roles: ["viewer", "gate"] }).then((token) => ({ authorization: `Bearer ${token}` }));

describe("two gateway processes on one port", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = startCluster(2);
    await waitForBoth(cluster);
  }, 60_000);

  test("both answer, each naming itself; /health is each process's own", async () => {
    const answers = await fromEveryProcess(() => once(`${cluster.base}/health`));
    expect([...answers.keys()].sort()).toEqual(["0", "1"]);
    for (const [, list] of answers) expect(list[0]?.response.status).toBe(200);
    expect(childrenOf(cluster.proc.pid)).toHaveLength(1);
  });

  test("a weight change made through one process is applied by the other", async () => {
    const headers = await reader("weights-reader");
    const writer = await setWeights(cluster.base, { monolith: 0, "reference-data": 100 });
    const other = writer === "0" ? "1" : "0";
    // The other process learns it from its KV watch: its answers come from the candidate.
    await until(async () => {
      const answer = await once(`${cluster.base}/api/codes/00103`, { headers });
      return answer.process === other && answer.response.headers.get("fig-served-by") === "reference-data";
    }, `process ${other} to route by the new weights`);
    await setWeights(cluster.base, { monolith: 100, "reference-data": 0 });
    await everyProcessHas(cluster.base, { monolith: 100, "reference-data": 0 });
  });

  test("a sticky key lands on the same upstream whichever process answers", async () => {
    await setWeights(cluster.base, { monolith: 50, "reference-data": 50 });
    await everyProcessHas(cluster.base, { monolith: 50, "reference-data": 50 });
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const headers = await reader(`sticky-${i}`);
      const answers = await fromEveryProcess(() => once(`${cluster.base}/api/codes/00103`, { headers }), {
        each: 2,
        what: `consumer sticky-${i} through both processes`,
      });
      const upstreams = new Set(
        [...answers.values()].flat().map((a) => a.response.headers.get("fig-served-by")),
      );
      expect(upstreams.size, `sticky-${i} went to ${[...upstreams].join(" and ")}`).toBe(1);
      for (const upstream of upstreams) seen.add(String(upstream));
    }
    // The split is real: some consumers are on each side, so agreeing was not a matter of one upstream.
    expect([...seen].sort()).toEqual(["monolith", "reference-data"]);
  }, 60_000);

  test("each process's /metrics labels its gateway_* series with its index", async () => {
    // The sticky test sent requests through both processes: each has counted some.
    const answers = await fromEveryProcess(() => once(`${cluster.base}/metrics`));
    for (const [process, list] of answers) {
      const lines = (list[0]?.text ?? "")
        .split("\n")
        .filter((l) => l.startsWith("gateway_upstream_requests_total{"));
      expect(lines.length, `process ${process}`).toBeGreaterThan(0);
      for (const line of lines) expect(line).toContain(`gateway_process="${process}"`);
    }
  });

  test("GET /_fig/shadow answers for both processes, whichever answers it", async () => {
    await setWeights(cluster.base, { monolith: 100, "reference-data": 0 });
    await everyProcessHas(cluster.base, { monolith: 100, "reference-data": 0 });
    const put = await once(`${cluster.base}/_fig/routes/reference-data/shadow`, {
      method: "PUT",
      headers: { ...(await operator(`op-${crypto.randomUUID()}`)), "content-type": "application/json" },
      body: JSON.stringify({ percent: 100, reason: "cluster test" }),
    });
    expect(put.response.status, put.text).toBe(200);
    const { revision } = JSON.parse(put.text) as { revision: number };
    await everyProcessAt(cluster.base, revision);
    // Every GET mirrored, some by each process: each holds the comparisons of the requests it served.
    const headers = await reader("shadow-reader");
    const served = await fromEveryProcess(() => once(`${cluster.base}/api/codes/00103`, { headers }), {
      each: 3,
      what: "3 GETs served by each process",
    });
    const sent = [...served.values()].flat().length;
    for (const [process, list] of served)
      expect(list.length, `process ${process} served some, not all`).toBeLessThan(sent);
    const report = async () => {
      const answer = await once(`${cluster.base}/_fig/shadow`, {
        headers: await operator(`op-${crypto.randomUUID()}`),
      });
      expect(answer.response.status, answer.text).toBe(200);
      const body = JSON.parse(answer.text) as {
        queue: { outstanding: number };
        routes: { route: string; mirrored: number; compared: number }[];
        processes?: { of: number; answered: number };
      };
      const route = body.routes.find((r) => r.route === "reference-data");
      return {
        ...answer,
        seen: {
          mirrored: route?.mirrored,
          compared: route?.compared,
          outstanding: body.queue.outstanding,
          processes: body.processes,
        },
      };
    };
    const whole = { mirrored: sent, compared: sent, outstanding: 0, processes: { of: 2, answered: 2 } };
    let last: unknown;
    await until(async () => {
      last = (await report()).seen;
      return Bun.deepEquals(last, whole);
    }, "every comparison in the report").catch((error) => {
      throw new Error(`${(error as Error).message}: ${JSON.stringify(last)}, not ${JSON.stringify(whole)}`);
    });
    // Asked of each process, the same whole picture, not its own half.
    const answers = await fromEveryProcess(report);
    for (const [process, list] of answers) expect(list.at(-1)?.seen, `process ${process}`).toEqual(whole);
    // Back to the route file's share (the later tests stop the candidate: no mirrors of theirs).
    const reset = await once(`${cluster.base}/_fig/routes/reference-data/shadow`, {
      method: "PUT",
      headers: { ...(await operator(`op-${crypto.randomUUID()}`)), "content-type": "application/json" },
      body: JSON.stringify({ percent: null, reason: "cluster test done" }),
    });
    expect(reset.response.status, reset.text).toBe(200);
    await everyProcessAt(cluster.base, (JSON.parse(reset.text) as { revision: number }).revision);
  }, 60_000);

  test("promote's step window counts every request the candidate got, whichever process served it", async () => {
    await setWeights(cluster.base, { monolith: 0, "reference-data": 100 });
    await everyProcessHas(cluster.base, { monolith: 0, "reference-data": 100 });
    // promote's own reading (packages/promote), with an operator of its own per reading (the /_fig limit).
    const gateway = async () =>
      createGatewayClient({
        baseUrl: cluster.base,
        token: await auth.token({
          sub: `op-${crypto.randomUUID()}`,
          roles: ["operator"],
          tenant: "platform",
        }),
      });
    const before = await readCounters(await gateway(), "reference-data");
    const headers = await reader("counters-reader");
    const served = await fromEveryProcess(() => once(`${cluster.base}/api/codes/00103`, { headers }), {
      each: 3,
      what: "3 GETs served by each process",
    });
    const sent = [...served.values()].flat();
    expect(sent.every((a) => a.response.headers.get("fig-served-by") === "reference-data")).toBe(true);
    const after = await readCountersAfter(await gateway(), "reference-data", before);
    const step = stepWindow(before, after, "reference-data", "reference-data");
    expect(step.processes).toEqual({ of: 2, answered: 2 });
    expect(step.partial).toBeNull();
    // Read as before, from /metrics (each page one process's), this counted 3 of 6 and 3 of 8 requests.
    expect(step.window.requests).toBe(sent.length);
    expect(step.window.buckets.at(-1)?.[1]).toBe(sent.length);
    // Asked through either process, the counters are both processes' (the sum, and each one's own).
    const answers = await fromEveryProcess(async () => {
      const answer = await once(`${cluster.base}/_fig/routes/reference-data/counters`, {
        headers: await operator(`op-${crypto.randomUUID()}`),
      });
      return {
        ...answer,
        body: JSON.parse(answer.text) as { processes: unknown; perProcess: { process: number }[] },
      };
    });
    for (const [process, list] of answers) {
      const body = list.at(-1)?.body;
      expect(body?.processes, `process ${process}`).toEqual({ of: 2, answered: 2 });
      expect(body?.perProcess.map((p) => p.process)).toEqual([0, 1]);
    }
  }, 60_000);

  test("a flip's 'writes waited' counts the writes held at both processes", async () => {
    const admin = async () => ({
      ...(await operator(`op-${crypto.randomUUID()}`)),
      "content-type": "application/json",
    });
    const hold = async (method: "GET" | "PUT" | "DELETE", body?: unknown) => {
      const answer = await once(`${cluster.base}/_fig/routes/reference-data/write-hold`, {
        method,
        headers: await admin(),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(answer.response.status, answer.text).toBe(200);
      return JSON.parse(answer.text) as {
        until: string | null;
        stats: { held: number };
        processes: { of: number; answered: number };
      };
    };
    // As packages/datasync's flip counts them: the release's `held` less the hold's.
    const held = await hold("PUT", { holdMs: 30_000, reason: "cluster test flip" });
    expect(held.processes).toEqual({ of: 2, answered: 2 });
    // The other process has the hold too before the PUT answered (it waits for every process).
    // Writes on connections of their own (and a consumer each: the rate limit), spread over both processes.
    const WRITES = 16;
    const writes = Array.from({ length: WRITES }, async () => {
      const token = await auth.token({ sub: `writer-${crypto.randomUUID()}`, roles: ["editor", "gate"] });
      return once(`${cluster.base}/api/codes`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ code: "91001" }),
      });
    });
    let seen = held;
    await until(async () => {
      seen = await hold("GET");
      return seen.stats.held - held.stats.held === WRITES;
    }, `all ${WRITES} writes waiting at the hold`).catch((error) => {
      throw new Error(`${(error as Error).message}: ${seen.stats.held - held.stats.held} seen`);
    });
    const released = await hold("DELETE", { reason: "cluster test flip done" });
    expect(released.until).toBeNull();
    const answered = await Promise.all(writes);
    expect(answered.map((a) => a.response.status)).toEqual(Array(WRITES).fill(200));
    // Some at each process: the count below is both processes' (each alone held fewer than all).
    expect(new Set(answered.map((a) => a.process))).toEqual(new Set(["0", "1"]));
    expect(released.processes).toEqual({ of: 2, answered: 2 });
    expect(released.stats.held - held.stats.held).toBe(WRITES);
  }, 60_000);

  test(`each process enforces ⌊${LIMIT} ÷ 2⌋ a minute: together, never more than ${LIMIT}`, async () => {
    const token = await auth.token({ sub: "limited", roles: ["viewer"] });
    const headers = { authorization: `Bearer ${token}` };
    const answers = await fromEveryProcess(() => once(`${cluster.base}/api/codes/00103`, { headers }), {
      each: LIMIT,
      what: `${LIMIT} answers from each process`,
    });
    let admitted = 0;
    for (const [process, list] of answers) {
      const statuses = list.map((a) => a.response.status);
      // A bucket of 2, refilled one per 30 s: the first two pass, every later one is refused.
      expect(statuses.slice(0, 2), `process ${process}`).toEqual([200, 200]);
      expect(new Set(statuses.slice(2)), `process ${process}`).toEqual(new Set([429]));
      expect(list[0]?.response.headers.get("ratelimit-limit")).toBe(String(LIMIT / 2));
      admitted += statuses.filter((s) => s === 200).length;
    }
    expect(admitted).toBe(LIMIT);
  });

  test("breakers are per process: each ejects a dead candidate on its own failures", async () => {
    await setWeights(cluster.base, { monolith: 0, "reference-data": 100 });
    await everyProcessHas(cluster.base, { monolith: 0, "reference-data": 100 });
    candidate.stop();
    // One kept-alive connection meets one process: only that one sees the candidate refuse.
    const headers = await reader("breaker");
    const seen = new Set<string | null>();
    for (let i = 0; i < 8; i++) {
      const response = await fetch(`${cluster.base}/api/codes/00103`, { headers });
      await response.arrayBuffer();
      seen.add(response.headers.get(PROCESS_HEADER));
    }
    expect(seen.size).toBe(1);
    const [failed] = [...seen] as string[];
    const views = await fromEveryProcess(async () => {
      const answer = await once(`${cluster.base}/_fig/routes`, {
        headers: await operator(`op-${crypto.randomUUID()}`),
      });
      const body = JSON.parse(answer.text) as {
        routes: { id: string; upstreams: { name: string; breaker: string }[] }[];
      };
      const route = body.routes.find((r) => r.id === "reference-data");
      return { ...answer, breaker: route?.upstreams.find((u) => u.name === "reference-data")?.breaker };
    });
    for (const [process, list] of views)
      expect(list.at(-1)?.breaker, `process ${process}`).toBe(process === failed ? "open" : "closed");
  });

  test("a process that dies is started again", async () => {
    const [first] = childrenOf(cluster.proc.pid);
    expect(first).toBeDefined();
    process.kill(first as number, "SIGKILL");
    await until(() => !alive(first as number), "the killed process to be gone");
    await until(() => childrenOf(cluster.proc.pid).some((pid) => pid !== first), "a new process 1", 20_000);
    await until(
      async () =>
        (await fromEveryProcess(() => once(`${cluster.base}/health`)).catch(() => undefined)) !== undefined,
      "the new process 1 to answer",
      30_000,
    );
  }, 60_000);

  test("killing process 0 with SIGKILL stops the others: nothing is left on the port", async () => {
    const children = childrenOf(cluster.proc.pid);
    expect(children).toHaveLength(1);
    cluster.proc.kill("SIGKILL");
    await cluster.proc.exited;
    // Orphaned, process 1 notices within a second and shuts down gracefully.
    await until(() => children.every((pid) => !alive(pid)), "process 1 to stop", 20_000);
    const after = await fetch(`${cluster.base}/health`).catch((error: Error) => error);
    expect(after).toBeInstanceOf(Error);
  }, 30_000);
});

describe("stopping process 0", () => {
  test("SIGTERM drains and stops every process, all exiting 0", async () => {
    const cluster = startCluster(2);
    await waitForBoth(cluster);
    const children = childrenOf(cluster.proc.pid);
    expect(children).toHaveLength(1);
    cluster.proc.kill("SIGTERM");
    expect(await cluster.proc.exited).toBe(0);
    // Process 0 exits only after its processes did (it waits for them), and says when one did not exit 0.
    expect(children.filter(alive)).toEqual([]);
    expect(cluster.output()).not.toContain("did not stop cleanly");
    const after = await fetch(`${cluster.base}/health`).catch((error: Error) => error);
    expect(after).toBeInstanceOf(Error);
  }, 60_000);

  test("SIGTERM to every process (systemd's control-group kill), then process 0's own: requests in flight finish", async () => {
    const cluster = startCluster(2);
    await waitForBoth(cluster);
    const children = childrenOf(cluster.proc.pid);
    // Slow requests on connections of their own: some reach each process, and are in flight at the signals.
    const headers = await reader("in-flight");
    const slow = Array.from({ length: 12 }, () => once(`${cluster.base}/api/anything/slow`, { headers }));
    await until(
      () => monolith.received.filter((r) => r.path.endsWith("/slow")).length === 12,
      "all 12 at the monolith",
    );
    for (const pid of children) process.kill(pid, "SIGTERM");
    await Bun.sleep(200);
    cluster.proc.kill("SIGTERM");
    const answers = await Promise.all(slow);
    expect(new Set(answers.map((a) => a.process))).toEqual(new Set(["0", "1"]));
    // The second SIGTERM, passed on by process 0 while process 1 drained, did not end it half-way.
    expect(answers.map((a) => a.response.status)).toEqual(Array(12).fill(200));
    expect(await cluster.proc.exited).toBe(0);
    expect(children.filter(alive)).toEqual([]);
    expect(cluster.output()).not.toContain("did not stop cleanly");
  }, 60_000);
});
