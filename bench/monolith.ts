/**
 * The migration's before/after, through real processes on a real Postgres and NATS JetStream:
 *
 *   cold — cold start to /ready for each service: spawn `bun services/<name>/src/main.ts` on a fresh
 *          database (migrations run; the monolith also loads reference-data's seed), time until /ready is 200.
 *          validation (its API process, WORKER=off) starts against the reference-data process started here.
 *   sync — a 10,000-row claims file (`bun run gen:claims`), 3 times each: on the monolith, upload then
 *          POST /api/validations, which validates inside the request and answers 200 when done; on the validation
 *          service as deployed (the API process with WORKER=off, plus a `--worker-only` process), upload then
 *          POST (202) then GET every 20 ms until completed. Meanwhile a probe sends `GET /health` every 10 ms to
 *          the process that took the request and records each latency: on the monolith it waits for the
 *          validation (the event loop is blocked); on validation's API it does not.
 *          Each run's counts.byRule is compared with the generator's expectation.
 *
 * Figures are printed, never asserted; the exit code is non-zero only when something did not work.
 *
 * Usage: bun bench/monolith.ts [--only cold|sync[,…]] [--runs 3] [--rows 10000]
 * Env: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres),
 * BENCH_NATS_URL (else NATS_URL, else 127.0.0.1:4222). Databases fig_bench_* are dropped at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mintDevToken } from "../packages/auth/src/mint.ts";
import { createNatsClient, deleteNamespace } from "../packages/events/src/index.ts";
import { cleanupOnSignals, parseFlags, parseOnly, usageError } from "./lib/cli.ts";
import { createBenchDatabase, dropAll } from "./lib/postgres.ts";
import { check, heading, kv, line, median, ms, printSummary, summary } from "./lib/report.ts";
import { freePort, type Service, serviceEnv, startService, stopAll, waitReady } from "./lib/service.ts";

const ROOT = resolve(import.meta.dir, "..");
const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "127.0.0.1:4222";
const SECRET = "fig-dev-secret-change-me-0123456789abcdef";
const NAMESPACE = `bench${crypto.randomUUID().replace(/-/g, "").slice(0, 8)}mono`;
const SECTIONS = ["cold", "sync"] as const;
const USAGE = `usage: bun bench/monolith.ts [--only cold|sync[,…]] [--runs 3] [--rows 10000]`;

const values = parseFlags(USAGE, ["only", "runs", "rows"]);
const only = parseOnly(USAGE, SECTIONS, values.only);
const whole = (text: string, flag: string) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) usageError(USAGE, `${flag} must be a whole number ≥ 1`);
  return n;
};
const RUNS = whole(values.runs ?? "3", "--runs");
const ROWS = whole(values.rows ?? "10000", "--rows");
const workDir = mkdtempSync(join(tmpdir(), "fig-bench-monolith-"));

async function cleanup() {
  await stopAll();
  await dropAll();
  rmSync(workDir, { recursive: true, force: true });
  // The services' streams and KV buckets of this run's namespace (KV buckets are streams named KV_<bucket>).
  const nats = createNatsClient({ servers: NATS_URL, name: "bench-monolith-cleanup" });
  try {
    await deleteNamespace(await nats.manager(), NAMESPACE);
  } catch {
    // NATS down: nothing of ours to delete there
  } finally {
    await nats.close();
  }
}
cleanupOnSignals("stopping services and dropping databases", cleanup);

const env = (vars: Record<string, string>) =>
  serviceEnv({ AUTH_DEV_SECRET: SECRET, NATS_URL, FIG_NAMESPACE: NAMESPACE, LOG_LEVEL: "warn", ...vars });

/** Spawns a service on a fresh database and returns it with its cold start to /ready (ms). */
async function coldStart(name: string, vars: Record<string, string> = {}) {
  const db = await createBenchDatabase(name.replace("-", "_"));
  const service = startService(
    ["bun", `services/dash/${name}/src/main.ts`],
    env({ PORT: String(freePort()), DATABASE_URL: db.url, ...vars }),
    ROOT,
  );
  return { service, dbUrl: db.url, readyMs: await waitReady(service, { timeoutMs: 120_000 }) };
}

function localToday(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** `GET /health` every `everyMs` until stopped; the latency of each (ms). */
function probeHealth(baseUrl: string, everyMs = 10) {
  const latencies: number[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const sent = performance.now();
      await fetch(`${baseUrl}/health`).then((r) => r.arrayBuffer());
      latencies.push(performance.now() - sent);
      await Bun.sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return latencies;
    },
  };
}

type Run = { totalMs: number; healthMaxMs: number; healthMedianMs: number; probes: number; byRule: unknown };

async function upload(service: Service, token: string, path: string): Promise<string> {
  const res = await fetch(`${service.baseUrl}/api/files?name=claims.csv`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
    body: Bun.file(path),
  });
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { fileId: string }).fileId;
}

/** One timed run: upload → finished run, with the /health probe on the same process throughout. */
async function timedRun(service: Service, token: string, path: string, synchronous: boolean): Promise<Run> {
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const probe = probeHealth(service.baseUrl);
  const started = performance.now();
  const fileId = await upload(service, token, path);
  const res = await fetch(`${service.baseUrl}/api/validations`, {
    method: "POST",
    headers,
    body: JSON.stringify({ fileId }),
  });
  let run = (await res.json()) as { validationId: string; status: string; counts: { byRule: unknown } };
  check(res.status === (synchronous ? 200 : 202), `POST /api/validations answered ${res.status}`);
  while (run.status !== "completed" && run.status !== "failed") {
    await Bun.sleep(20);
    run = (await (
      await fetch(`${service.baseUrl}/api/validations/${run.validationId}`, { headers })
    ).json()) as typeof run;
  }
  const totalMs = performance.now() - started;
  const latencies = await probe.stop();
  return {
    totalMs,
    healthMaxMs: Math.max(...latencies),
    healthMedianMs: median(latencies),
    probes: latencies.length,
    byRule: run.counts.byRule,
  };
}

const nonZero = (counts: unknown) =>
  JSON.stringify(
    Object.fromEntries(
      Object.entries(counts as Record<string, number>)
        .filter(([, n]) => n > 0)
        .sort(),
    ),
  );

try {
  heading("Cold start to /ready (fresh database each; bun services/<name>/src/main.ts)");
  const refData = await coldStart("reference-data");
  const monolith = await coldStart("monolith");
  // As deployed: the API process (WORKER=off) answers HTTP, `--worker-only` processes validate.
  const validation = await coldStart("validation", {
    REFERENCE_DATA_URL: refData.service.baseUrl,
    WORKER: "off",
  });
  for (const [name, s] of [
    ["monolith", monolith],
    ["reference-data", refData],
    ["validation", validation],
  ] as const) {
    kv(`${name} /ready`, ms(s.readyMs));
    if (only.includes("cold"))
      summary.push({ figure: `cold start ${name} → /ready`, result: ms(s.readyMs), goal: "-", verdict: "" });
  }

  if (only.includes("sync")) {
    heading(
      `${ROWS.toLocaleString("en-US")}-row validation: monolith (synchronous) beside validation (202 + worker)`,
    );
    // validation's read model must hold the seed: load it into reference-data, as `bun run seed` does.
    const seed = Bun.spawn(["bun", "run", "seed"], {
      cwd: ROOT,
      env: env({ SEED_URL: refData.service.baseUrl }),
      stdout: "pipe",
      stderr: "pipe",
    });
    check((await seed.exited) === 0, "bun run seed failed");
    const path = join(workDir, "claims.csv");
    const gen = Bun.spawn(
      ["bun", "run", "gen:claims", "--rows", String(ROWS), "--out", path, "--today", localToday()],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    check((await gen.exited) === 0, "gen:claims failed");
    const expected = (await Bun.file(`${path}.expected.json`).json()) as { findings: Record<string, number> };
    const worker = startService(
      ["bun", "services/dash/validation/src/main.ts", "--worker-only"],
      env({
        PORT: String(freePort()),
        DATABASE_URL: validation.dbUrl,
        REFERENCE_DATA_URL: refData.service.baseUrl,
      }),
      ROOT,
    );
    await waitReady(worker, { timeoutMs: 120_000 });
    const token = await mintDevToken({
      secret: SECRET,
      sub: "bench",
      tenant: "bench",
      roles: ["editor"],
      ttl: "1h",
    });
    // The read model follows reference-data's events; give it the seed before timing (one warm-up run each).
    await Bun.sleep(2000);
    for (const [name, s, sync] of [
      ["monolith", monolith.service, true],
      ["validation", validation.service, false],
    ] as const) {
      await timedRun(s, token, path, sync);
      const runs: Run[] = [];
      for (let i = 0; i < RUNS; i++) {
        const run = await timedRun(s, token, path, sync);
        check(
          nonZero(run.byRule) === nonZero(expected.findings),
          `${name}: counts.byRule differ from the generator's`,
        );
        runs.push(run);
        kv(
          `${name} run ${i + 1}`,
          `${ms(run.totalMs)}; GET /health max ${ms(run.healthMaxMs)}, median ${ms(run.healthMedianMs)} (${run.probes} probes)`,
        );
      }
      const total = median(runs.map((r) => r.totalMs));
      const worst = median(runs.map((r) => r.healthMaxMs));
      summary.push({
        figure: `${name}: ${ROWS / 1000}k rows upload → ${sync ? "200" : "completed"}`,
        result: ms(total),
        goal: "-",
        verdict: "",
        note: `GET /health meanwhile: max ${ms(worst)} (median of runs)`,
      });
    }
  }
  line();
  const code = printSummary("While it validates");
  await cleanup();
  process.exit(code);
} catch (error) {
  console.error(error);
  await cleanup();
  process.exit(1);
}
