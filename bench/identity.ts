/**
 * Identity's costs: one argon2id hash and one verification at the service's parameters (OWASP's: 19 MiB, 2
 * passes, 1 lane), and login latency at a constant arrival rate (default 50 logins/s) against the real app on a
 * socket over a fresh Postgres database. Latency counts from when each login was due (open loop), so a
 * saturated machine shows as latency, not as a lower rate.
 *
 *   bun bench/identity.ts [--rate 50] [--seconds 10] [--hashes 20]
 */
import { createDatabase } from "../packages/db/src/index.ts";
import { createLogger } from "../packages/service/src/index.ts";
import { buildApp } from "../services/identity/src/app.ts";
import { DEV_KEY_ENCRYPTION_KEY } from "../services/identity/src/config.ts";
import { createKeyCipher, createSigner, ensureSigningKeys } from "../services/identity/src/domain/keys.ts";
import { ARGON2ID, hashPassword } from "../services/identity/src/domain/passwords.ts";
import { ensureActiveUser } from "../services/identity/src/domain/users.ts";
import { cleanupOnSignals, parseFlags } from "./lib/cli.ts";
import { percentiles } from "./lib/open-loop.ts";
import { createBenchDatabase, dropBenchDatabase } from "./lib/postgres.ts";
import { heading, kv, loadAverage, median, ms } from "./lib/report.ts";

const USAGE = "usage: bun bench/identity.ts [--rate 50] [--seconds 10] [--hashes 20]";
const flags = parseFlags(USAGE, ["rate", "seconds", "hashes"] as const);
const rate = Number(flags.rate ?? 50);
const seconds = Number(flags.seconds ?? 10);
const hashes = Number(flags.hashes ?? 20);
const PASSWORD = "bench-password-0123";
const USERS = 20;

async function argon2Cost() {
  const hashMs: number[] = [];
  const verifyMs: number[] = [];
  let hash = "";
  for (let i = 0; i < hashes; i++) {
    const t0 = performance.now();
    hash = await hashPassword(PASSWORD);
    hashMs.push(performance.now() - t0);
    const t1 = performance.now();
    await Bun.password.verify(PASSWORD, hash);
    verifyMs.push(performance.now() - t1);
  }
  return { hash: median(hashMs), verify: median(verifyMs), sample: hash.slice(0, 32) };
}

/** POSTs a login every 1/rate s whatever the earlier ones do; latency from each one's due time. */
async function loginsAtRate(url: string, tenant: string) {
  const total = Math.round(rate * seconds);
  const latency: number[] = [];
  let ok = 0;
  let failed = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const body = JSON.stringify({ tenant, email: `user-${i % USERS}@${tenant}.test`, password: PASSWORD });
    pending.push(
      fetch(`${url}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 200) ok++;
          else failed++;
        })
        .catch(() => {
          failed++;
        })
        .finally(() => latency.push(performance.now() - due)),
    );
  }
  await Promise.all(pending);
  return { ok, failed, ...percentiles(latency), rate: total / ((performance.now() - start) / 1000) };
}

const database = await createBenchDatabase("identity");
cleanupOnSignals("identity bench", () => dropBenchDatabase(database.name));
const handle = await createDatabase({ service: "identity", url: database.url, poolMax: 10 });
let server: ReturnType<typeof Bun.serve> | undefined;
try {
  await handle.migrate(new URL("../services/identity/drizzle", import.meta.url).pathname);
  const cipher = await createKeyCipher(DEV_KEY_ENCRYPTION_KEY);
  await ensureSigningKeys(handle.db, cipher);
  const tenant = "bench";
  for (let i = 0; i < USERS; i++)
    await ensureActiveUser(handle.db, {
      tenant,
      email: `user-${i}@${tenant}.test`,
      password: PASSWORD,
      roles: ["viewer"],
      by: "bench",
    });
  const app = buildApp({
    identity: {
      db: handle.db,
      signer: createSigner(handle.db, cipher),
      tokens: { issuer: "fig-bench", audience: "fig", accessTtlSeconds: 600 },
      // Far above the run's logins: the bench measures logins, not the lockout.
      throttle: { accountMaxFailures: 1e9, ipMaxFailures: 1e9, windowSeconds: 900, lockoutSeconds: 900 },
      refreshTtlSeconds: 3600,
    },
    verifier: { verifyBearerToken: () => Promise.reject(new Error("unused")) },
    clientIp: () => null,
    publicUrl: "http://127.0.0.1",
    scopes: [],
    logger: createLogger({ service: "identity-bench", level: "silent" }),
  });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => app.fetch(req) });

  heading(
    `identity: argon2id m=${ARGON2ID.memoryCost} KiB, t=${ARGON2ID.timeCost}, p=1 (median of ${hashes})`,
  );
  kv("load average (1 5 15 min) before", loadAverage());
  const cost = await argon2Cost();
  kv("hash", ms(cost.hash));
  kv("verify (a login's cost)", ms(cost.verify));

  heading(`identity: logins at ${rate}/s for ${seconds} s (open loop, ${USERS} users, Postgres)`);
  kv("load average (1 5 15 min) before", loadAverage());
  const run = await loginsAtRate(`http://127.0.0.1:${server.port}`, tenant);
  kv("answered 200 / failed", `${run.ok} / ${run.failed}`);
  kv("achieved rate", `${run.rate.toFixed(1)}/s`);
  kv("latency p50 / p90 / p99 / max", [run.p50, run.p90, run.p99, run.max].map(ms).join(" / "));
  kv("load average (1 5 15 min) after", loadAverage());
  if (run.failed > 0) process.exitCode = 1;
} finally {
  server?.stop(true);
  await handle.close();
  await dropBenchDatabase(database.name);
}
process.exit();
