import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { answersNats, describeNatsUrl, findNatsServer } from "../dev-runner/nats.ts";
import { notReadyDetail } from "../dev-runner/ready.ts";
import { createRestarts, DEFAULT_RESTART_POLICY, parseRestartPolicy } from "../dev-runner/supervise.ts";

const DEV_SCRIPT = resolve(import.meta.dir, "..", "dev.ts");
const NATS_SERVER = findNatsServer();

// A tiny service: /ready answers 200 after ~300 ms; SIGTERM exits 0.
const FAKE_MAIN = `
const startedAt = Date.now();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(req) {
    const { pathname } = new URL(req.url);
    if (pathname === "/ready") {
      return new Response(Date.now() - startedAt > 300 ? "ok" : "starting", {
        status: Date.now() - startedAt > 300 ? 200 : 503,
      });
    }
    return new Response("fake");
  },
});
console.log("fake pid=" + process.pid + " port=" + server.port + " env=" + process.env.NODE_ENV +
  " pretty=" + process.env.LOG_PRETTY + " secret=" + (process.env.AUTH_DEV_SECRET ? "yes" : "no") +
  " nats=" + process.env.NATS_URL + " natsport=" + process.env.FIG_DEV_NATS_PORT);
process.on("SIGTERM", () => {
  console.log("fake got SIGTERM");
  server.stop(true);
  process.exit(0);
});
`;

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ port: 0, host: "127.0.0.1" }, () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(50);
  }
  return cond();
}

interface Run {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  output: () => string;
  done: Promise<number>;
}

/**
 * Runs the dev runner against root, collecting stdout+stderr. `undefined` in env removes a variable.
 * NATS_URL defaults to a placeholder nobody connects to (the fake services ignore it), so these tests
 * never probe or start a NATS server unless they ask for it.
 */
function runDev(root: string, env: Record<string, string | undefined> = {}): Run {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    CI: "true",
    NO_COLOR: "1",
    FIG_DEV_ROOT: root,
    NATS_URL: "nats://nats.invalid:4222",
    ...env,
  };
  delete childEnv.NODE_ENV; // bun test sets NODE_ENV=test; the runner should default to development
  delete childEnv.AUTH_DEV_SECRET;
  for (const [key, value] of Object.entries(childEnv)) if (value === undefined) delete childEnv[key];
  const proc = Bun.spawn([process.execPath, DEV_SCRIPT], {
    cwd: root,
    env: childEnv,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const collecting = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
  const done = proc.exited.then(async (code) => {
    await collecting;
    return code;
  });
  return { proc, output: () => text, done };
}

describe("bun run dev", () => {
  let root: string;
  let port: number;
  const started: Run[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "fig-dev-test-"));
    port = await freePort();
    mkdirSync(join(root, "services", "fake", "src"), { recursive: true });
    writeFileSync(
      join(root, "services", "fake", "package.json"),
      JSON.stringify({ name: "@fig/fake", private: true, fig: { port } }, null, 2),
    );
    writeFileSync(join(root, "services", "fake", "src", "main.ts"), FAKE_MAIN);
    // A service without fig.port is not started.
    mkdirSync(join(root, "services", "ignored"), { recursive: true });
    writeFileSync(
      join(root, "services", "ignored", "package.json"),
      JSON.stringify({ name: "@fig/ignored" }),
    );
  });

  afterAll(() => {
    for (const run of started) {
      if (run.proc.exitCode === null) run.proc.kill("SIGKILL");
    }
    rmSync(root, { recursive: true, force: true });
  });

  test("prints the ready line; SIGINT stops the child and exits 0", async () => {
    // A stale pid file (dead pid) must be replaced.
    const dead = Bun.spawn([process.execPath, "-e", "0"]);
    await dead.exited;
    mkdirSync(join(root, ".data"), { recursive: true });
    writeFileSync(join(root, ".data", "dev.pid"), `${dead.pid}\n`);

    const run = runDev(root);
    started.push(run);
    const ready = await waitFor(() => run.output().includes("✓ fake ready"), 10_000);
    expect(ready).toBe(true);
    const out = run.output();
    expect(out).toContain(
      `✓ fake ready  API http://localhost:${port}/api  docs http://localhost:${port}/docs`,
    );
    expect(out).toContain("embedded Postgres (PGlite) under .data/");
    expect(out).toContain("bun run token --sub you --tenant acme --roles editor");
    expect(out).toMatch(/fake │ fake pid=\d+ /);
    expect(out).toContain("env=development pretty=true secret=yes");
    expect(out).not.toContain("\x1b["); // NO_COLOR and no TTY
    expect(out).not.toContain("ignored");
    expect(readFileSync(join(root, ".data", "dev.pid"), "utf8").trim()).toBe(String(run.proc.pid));

    const childPid = Number(/fake pid=(\d+)/.exec(out)?.[1]);
    expect(isAlive(childPid)).toBe(true);

    run.proc.kill("SIGINT");
    const code = await run.done;
    expect(code).toBe(0);
    expect(run.output()).toContain("fake got SIGTERM");
    expect(await waitFor(() => !isAlive(childPid), 2000)).toBe(true);
    expect(existsSync(join(root, ".data", "dev.pid"))).toBe(false);
  }, 15_000);

  test("passes NATS_URL through to the services and prints it without credentials", async () => {
    const natsUrl = "nats://fig:s3cret@nats.example.test:4999";
    const run = runDev(root, { NATS_URL: natsUrl });
    started.push(run);
    expect(await waitFor(() => run.output().includes("✓ fake ready"), 10_000)).toBe(true);
    const out = run.output();
    expect(out).toContain(`nats=${natsUrl} natsport=undefined`);
    expect(out).toContain("  nats      NATS_URL nats://nats.example.test:4999\n");
    const runnerLines = out.split("\n").filter((line) => !line.startsWith("fake │"));
    expect(runnerLines.join("\n")).not.toContain("s3cret");
    run.proc.kill("SIGINT");
    expect(await run.done).toBe(0);
  }, 15_000);

  test.skipIf(!NATS_SERVER)(
    "starts nats-server when nothing answers on the NATS port and stops it after the services",
    async () => {
      const natsPort = await freePort(); // never the shared server on 4222
      expect(await answersNats(natsPort)).toBe(false);
      const run = runDev(root, { NATS_URL: undefined, FIG_DEV_NATS_PORT: String(natsPort) });
      started.push(run);
      let natsPid = 0;
      try {
        expect(await waitFor(() => run.output().includes("✓ fake ready"), 20_000)).toBe(true);
        const out = run.output();
        expect(out).toContain(
          `  nats      starting ${NATS_SERVER} -js on 127.0.0.1:${natsPort} (data in .data/nats)`,
        );
        expect(out).toContain(`✓ nats ready  nats://127.0.0.1:${natsPort}`);
        expect(out).toMatch(/^nats +│ .+$/m); // its log, prefixed like a service
        expect(out).toContain(`nats=nats://127.0.0.1:${natsPort} natsport=undefined`);
        expect(out.indexOf("✓ nats ready")).toBeLessThan(out.indexOf("fake │ fake pid="));
        natsPid = Number(/\(pid (\d+), stopped with dev\)/.exec(out)?.[1]);
        expect(isAlive(natsPid)).toBe(true);
        expect(await answersNats(natsPort)).toBe(true);
        expect(existsSync(join(root, ".data", "nats"))).toBe(true);

        const mark = run.output().length;
        run.proc.kill("SIGINT");
        expect(await run.done).toBe(0);
        const tail = run.output().slice(mark);
        expect(tail).toContain("stopping 1 service(s) and nats-server");
        // The services stop first; nats-server only then gets its SIGTERM.
        const serviceStopped = tail.indexOf("fake got SIGTERM");
        const natsStopping = tail.search(/^nats +│ .*(Trapped|Server Exiting)/m);
        expect(serviceStopped).toBeGreaterThanOrEqual(0);
        expect(natsStopping).toBeGreaterThan(serviceStopped);
        expect(await waitFor(() => !isAlive(natsPid), 2000)).toBe(true);
        expect(await answersNats(natsPort)).toBe(false);
      } finally {
        // Only ever the nats-server this test's runner started, by its pid.
        if (natsPid > 0 && isAlive(natsPid)) process.kill(natsPid, "SIGKILL");
      }
    },
    30_000,
  );

  test("refuses to start when the port is taken, naming service and port", async () => {
    const blocker = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("busy") });
    try {
      const run = runDev(root);
      started.push(run);
      const code = await run.done;
      expect(code).toBe(1);
      const out = run.output();
      expect(out).toContain(`fake cannot start: port ${port} in use`);
      expect(out).toContain("Is `bun run dev` already running?");
      expect(out).toContain(`lsof -i :${port}`);
      expect(existsSync(join(root, ".data", "dev.pid"))).toBe(false);
    } finally {
      blocker.stop(true);
    }
  }, 15_000);

  test("refuses to start when another runner's pid file is live", async () => {
    // Something alive whose command line looks like a dev runner.
    const script = join(root, "other-dev.ts");
    writeFileSync(script, "setTimeout(() => {}, 30_000);");
    const other = Bun.spawn([process.execPath, script], { stdout: "ignore", stderr: "ignore" });
    try {
      mkdirSync(join(root, ".data"), { recursive: true });
      writeFileSync(join(root, ".data", "dev.pid"), `${other.pid}\n`);
      const run = runDev(root);
      started.push(run);
      expect(await run.done).toBe(1);
      expect(run.output()).toContain(`bun run dev is already running (pid ${other.pid})`);
      expect(readFileSync(join(root, ".data", "dev.pid"), "utf8").trim()).toBe(String(other.pid));
    } finally {
      other.kill("SIGKILL");
      await other.exited;
      rmSync(join(root, ".data", "dev.pid"), { force: true });
    }
  }, 15_000);

  test("stops everything with exit 1 when a service exits before it is ready", async () => {
    const failing = mkdtempSync(join(tmpdir(), "fig-dev-fail-"));
    try {
      const failPort = await freePort();
      mkdirSync(join(failing, "services", "broken", "src"), { recursive: true });
      writeFileSync(
        join(failing, "services", "broken", "package.json"),
        JSON.stringify({ name: "@fig/broken", fig: { port: failPort } }),
      );
      writeFileSync(
        join(failing, "services", "broken", "src", "main.ts"),
        'console.error("config: DATABASE_URL is not a URL"); process.exit(3);',
      );
      const run = runDev(failing);
      started.push(run);
      expect(await run.done).toBe(1);
      const out = run.output();
      expect(out).toContain("broken │ config: DATABASE_URL is not a URL");
      expect(out).toContain("broken exited with code 3 before it was ready");
      expect(out).not.toContain("restarting"); // a first start that fails is not retried
      expect(existsSync(join(failing, ".data", "dev.pid"))).toBe(false);
    } finally {
      rmSync(failing, { recursive: true, force: true });
    }
  }, 15_000);
});

/** A workspace whose services/<name>/src/main.ts is each given source, on a free port each. */
async function makeWorkspace(
  mains: Record<string, string>,
): Promise<{ root: string; ports: Record<string, number> }> {
  const root = mkdtempSync(join(tmpdir(), "fig-dev-restart-"));
  const ports: Record<string, number> = {};
  for (const [name, main] of Object.entries(mains)) {
    ports[name] = await freePort();
    mkdirSync(join(root, "services", name, "src"), { recursive: true });
    writeFileSync(
      join(root, "services", name, "package.json"),
      JSON.stringify({ name: `@fig/${name}`, private: true, fig: { port: ports[name] } }),
    );
    writeFileSync(join(root, "services", name, "src", "main.ts"), main);
  }
  return { root, ports };
}

/** Every pid a service printed at start ("<name> │ fake pid=…"), oldest first. */
function startedPids(output: string, name: string): number[] {
  return [...output.matchAll(new RegExp(`^${name} +│ fake pid=(\\d+)`, "gm"))].map((m) => Number(m[1]));
}

async function answers(port: number): Promise<string | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return await res.text();
  } catch {
    return null;
  }
}

// Runs normally the first time; every later start (a restart) fails at once, as a service whose database
// a crash left unusable would: a crash loop that restarting cannot end.
const CRASH_LOOP_MAIN = `
import { existsSync, writeFileSync } from "node:fs";
const marker = ".data/flaky-started";
if (existsSync(marker)) {
  console.error("flaky: cannot open its database (pid " + process.pid + ")");
  process.exit(1);
}
writeFileSync(marker, "");
${FAKE_MAIN}
`;

describe("bun run dev restarts a crashed service", () => {
  const started: Run[] = [];
  const roots: string[] = [];

  afterAll(() => {
    for (const run of started) {
      if (run.proc.exitCode === null) run.proc.kill("SIGKILL");
    }
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  test("a service killed with SIGKILL is restarted and answers again; the other keeps its pid", async () => {
    const { root, ports } = await makeWorkspace({ alpha: FAKE_MAIN, beta: FAKE_MAIN });
    roots.push(root);
    const run = runDev(root, { FIG_DEV_RESTART: "backoff=50ms..200ms,limit=5/60s" });
    started.push(run);
    expect(await waitFor(() => run.output().includes("all 2 service(s) ready"), 20_000)).toBe(true);
    const [alphaPid] = startedPids(run.output(), "alpha");
    const [betaPid] = startedPids(run.output(), "beta");
    expect(alphaPid).toBeGreaterThan(0);
    expect(betaPid).toBeGreaterThan(0);

    process.kill(alphaPid as number, "SIGKILL");
    const back = /✓ alpha ready again \(restart 1, pid (\d+)\)/;
    expect(await waitFor(() => back.test(run.output()), 20_000)).toBe(true);
    const out = run.output();
    expect(out).toContain("↻ alpha exited with signal SIGKILL; restarting in 50 ms (restart 1)");
    expect(out).not.toContain("stopping the others");
    const newPid = Number(back.exec(out)?.[1]);
    expect(startedPids(out, "alpha")).toEqual([alphaPid as number, newPid]);
    expect(isAlive(alphaPid as number)).toBe(false);
    expect(await answers(ports.alpha as number)).toBe("fake");

    // The other service was never touched: one start, same pid, still answering.
    expect(startedPids(out, "beta")).toEqual([betaPid as number]);
    expect(isAlive(betaPid as number)).toBe(true);
    expect(await answers(ports.beta as number)).toBe("fake");
    expect(run.proc.exitCode).toBeNull();

    run.proc.kill("SIGINT");
    expect(await run.done).toBe(0);
    expect(await waitFor(() => !isAlive(newPid) && !isAlive(betaPid as number), 5000)).toBe(true);
  }, 60_000);

  test("a service that keeps crashing is left stopped with its last error lines; the others keep running", async () => {
    const { root, ports } = await makeWorkspace({ beta: FAKE_MAIN, flaky: CRASH_LOOP_MAIN });
    roots.push(root);
    const run = runDev(root, { FIG_DEV_RESTART: "backoff=20ms..40ms,limit=3/60s" });
    started.push(run);
    expect(await waitFor(() => run.output().includes("all 2 service(s) ready"), 20_000)).toBe(true);
    const [flakyPid] = startedPids(run.output(), "flaky");
    const [betaPid] = startedPids(run.output(), "beta");

    process.kill(flakyPid as number, "SIGKILL");
    const gaveUp =
      "✗ flaky exited with code 1: 3 crashes within 60 s, so it is left stopped; the others keep running";
    expect(
      await waitFor(() => run.output().includes("(restart `bun run dev` to start it again)."), 30_000),
    ).toBe(true);
    const out = run.output();
    expect(out).toContain("↻ flaky exited with signal SIGKILL; restarting in 20 ms (restart 1)");
    expect(out).toContain("↻ flaky exited with code 1; restarting in 40 ms (restart 2)");
    expect(out).toContain(gaveUp);
    expect(out).not.toContain("restart 3");

    // The tail is the last run's stderr: its one error line (with the last pid), not the earlier runs'.
    const failedPids = [...out.matchAll(/flaky: cannot open its database \(pid (\d+)\)/g)].map((m) => m[1]);
    expect(failedPids).toHaveLength(3); // two runs printed it live, the tail once more
    const tail = out.slice(out.indexOf(gaveUp));
    expect(tail).toContain("  Its last error lines:\n");
    expect(tail).toContain(`  flaky │ flaky: cannot open its database (pid ${failedPids[1]})\n`);
    expect(tail.match(/cannot open its database/g)).toHaveLength(1);

    // The runner and the other service carry on.
    expect(run.proc.exitCode).toBeNull();
    expect(isAlive(betaPid as number)).toBe(true);
    expect(await answers(ports.beta as number)).toBe("fake");
    expect(await answers(ports.flaky as number)).toBeNull();

    const mark = run.output().length;
    run.proc.kill("SIGINT");
    expect(await run.done).toBe(0);
    expect(run.output().slice(mark)).toContain("stopping 1 service(s)");
  }, 60_000);

  test("Ctrl-C during a restart's backoff stops everything and restarts nothing", async () => {
    const { root, ports } = await makeWorkspace({ alpha: FAKE_MAIN, beta: FAKE_MAIN });
    roots.push(root);
    // A backoff far longer than this test may run: the runner must not wait for it.
    const run = runDev(root, { FIG_DEV_RESTART: "backoff=120s..120s,limit=5/60s" });
    started.push(run);
    expect(await waitFor(() => run.output().includes("all 2 service(s) ready"), 20_000)).toBe(true);
    const [alphaPid] = startedPids(run.output(), "alpha");
    const [betaPid] = startedPids(run.output(), "beta");

    process.kill(alphaPid as number, "SIGKILL");
    expect(
      await waitFor(
        () => run.output().includes("↻ alpha exited with signal SIGKILL; restarting in 120 s (restart 1)"),
        20_000,
      ),
    ).toBe(true);
    const mark = run.output().length;
    run.proc.kill("SIGINT");
    expect(await run.done).toBe(0);
    const tail = run.output().slice(mark);
    expect(tail).toContain("SIGINT: stopping 1 service(s)");
    expect(tail).toContain("fake got SIGTERM");
    expect(startedPids(run.output(), "alpha")).toEqual([alphaPid as number]);
    expect(run.output()).not.toContain("ready again");
    expect(await waitFor(() => !isAlive(betaPid as number), 5000)).toBe(true);
    expect(await answers(ports.alpha as number)).toBeNull();
    expect(existsSync(join(root, ".data", "dev.pid"))).toBe(false);
  }, 60_000);
});

describe("dev runner helpers", () => {
  test("answersNats is false for a listener that is not NATS and for a closed port", async () => {
    const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("hi") });
    try {
      expect(await answersNats(http.port as number, "127.0.0.1", 300)).toBe(false);
    } finally {
      http.stop(true);
    }
    expect(await answersNats(await freePort(), "127.0.0.1", 300)).toBe(false);
  });

  test("findNatsServer falls back to the usual folders, else null", () => {
    expect(findNatsServer(() => "/opt/nats/nats-server", [])).toBe("/opt/nats/nats-server");
    expect(findNatsServer(() => null, ["/nonexistent/nats-server", process.execPath])).toBe(process.execPath);
    expect(findNatsServer(() => null, ["/nonexistent/nats-server"])).toBeNull();
  });

  test("describeNatsUrl never shows credentials", () => {
    expect(describeNatsUrl("nats://a:b@h1:4222, tls://h2:4223")).toBe(
      "NATS_URL nats://h1:4222,tls://h2:4223",
    );
    expect(describeNatsUrl("h3:4222")).toBe("NATS_URL nats://h3:4222");
  });

  test("notReadyDetail names the failing checks from /ready's problem body", () => {
    const body = JSON.stringify({
      status: 503,
      detail: "Dependency not ready: nats",
      checks: { database: "ok", nats: "failed: CONNECTION_REFUSED" },
    });
    expect(notReadyDetail(503, body)).toBe("nats: failed: CONNECTION_REFUSED");
    expect(notReadyDetail(503, JSON.stringify({ detail: "Shutting down" }))).toBe("Shutting down");
    expect(notReadyDetail(502, "")).toBe("HTTP 502");
  });

  test("parseRestartPolicy reads FIG_DEV_RESTART, defaults what it leaves out, refuses the rest", () => {
    expect(parseRestartPolicy(undefined)).toEqual(DEFAULT_RESTART_POLICY);
    expect(parseRestartPolicy("backoff=50ms..1.5s,limit=3/2s")).toEqual({
      firstDelayMs: 50,
      maxDelayMs: 1500,
      maxCrashes: 3,
      windowMs: 2000,
    });
    expect(parseRestartPolicy("limit=2/10s")).toEqual({
      ...DEFAULT_RESTART_POLICY,
      maxCrashes: 2,
      windowMs: 10_000,
    });
    for (const bad of ["backoff=2s..1s", "backoff=fast", "limit=0/60s", "limit=5", "retries=3"]) {
      expect(parseRestartPolicy(bad)).toContain("FIG_DEV_RESTART must read");
    }
  });

  test("restarts double the backoff up to its cap, give up at the limit within the window, and forget old crashes", () => {
    let now = 0;
    const policy = { firstDelayMs: 500, maxDelayMs: 1500, maxCrashes: 4, windowMs: 60_000 };
    const restarts = createRestarts(policy, () => now);
    const delays = [1, 2, 3].map(() => {
      now += 1000;
      const decision = restarts.crashed();
      return decision.action === "restart" ? decision.delayMs : decision.action;
    });
    expect(delays).toEqual([500, 1000, 1500]);
    now += 1000;
    expect(restarts.crashed()).toEqual({ action: "give-up", crashes: 4 });

    // Crashes a window apart are each a first crash again.
    const spaced = createRestarts(policy, () => now);
    for (let i = 1; i <= 6; i++) {
      now += 60_000;
      expect(spaced.crashed()).toEqual({ action: "restart", delayMs: 500, restart: i });
    }
  });

  test("a cancelled restart never starts", async () => {
    const restarts = createRestarts(DEFAULT_RESTART_POLICY);
    let ran = false;
    restarts.schedule(0, () => {
      ran = true;
    });
    expect(restarts.pending).toBe(true);
    restarts.cancel();
    expect(restarts.pending).toBe(false);
    const done = Promise.withResolvers<void>();
    restarts.schedule(0, done.resolve); // a later timer: the cancelled one would have run first
    await done.promise;
    expect(ran).toBe(false);
  });
});
