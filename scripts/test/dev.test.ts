import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { answersNats, describeNatsUrl, findNatsServer } from "../dev-runner/nats.ts";
import { notReadyDetail } from "../dev-runner/ready.ts";

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
      expect(existsSync(join(failing, ".data", "dev.pid"))).toBe(false);
    } finally {
      rmSync(failing, { recursive: true, force: true });
    }
  }, 15_000);
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
});
