import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_AUTH, TEST_NATS_URL } from "@fig/testing";
import { discoverServices } from "../../../../scripts/dev-runner/discover.ts";
import { until } from "./sync-helpers.ts";

const ROOT = join(import.meta.dir, "..", "..", "..", "..");
/** Each service's entry point, found as `bun run dev` finds it (gateway is Fig's, the others Dash's). */
const MAINS = new Map(discoverServices(ROOT).map((service) => [service.name, service.main]));

/** A free TCP port on 127.0.0.1 (bound, then released: services need each other's URLs before they start). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export type Service = {
  name: string;
  port: number;
  url: string;
  pid: number;
  /** SIGKILL, by pid: no shutdown hook runs, nothing is flushed. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  output(): string;
};

/** Env every spawned process shares: the test namespace, NATS, and the test auth secret (tokens from createTestAuth verify). */
export function commonEnv(namespace: string, natsUrl = TEST_NATS_URL): Record<string, string> {
  return {
    HOME: tmpdir(),
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    FIG_NAMESPACE: namespace,
    NATS_URL: natsUrl,
    AUTH_DEV_SECRET: TEST_AUTH.secret,
    AUTH_ISSUER: TEST_AUTH.issuer,
    AUTH_AUDIENCE: TEST_AUTH.audience,
    SHUTDOWN_TIMEOUT_MS: "5000",
  };
}

/** `bun <service folder>/src/main.ts` as a real process on `port`, ready once /ready answers 200. */
export async function startService(
  name: string,
  port: number,
  env: Record<string, string>,
): Promise<Service> {
  let proc: ReturnType<typeof Bun.spawn>;
  let log = "";
  async function spawn() {
    proc = Bun.spawn([process.execPath, MAINS.get(name) ?? `no service named ${name}`], {
      cwd: ROOT,
      env: { ...env, PORT: String(port) },
      stdout: "pipe",
      stderr: "pipe",
    });
    for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[])
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of stream) log = (log + decoder.decode(chunk)).slice(-20_000);
      })();
    await until(`${name} /ready`, async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${log.slice(-2000)}`);
      const res = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    });
  }
  await spawn();
  const service: Service = {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await proc.exited;
    },
    restart: spawn,
    output: () => log,
  };
  return service;
}

export type CliRun = { code: number; stdout: string; stderr: string };

/** `bun run migrate-data …` as the operator runs it. */
export async function migrateData(args: string[], env: Record<string, string>): Promise<CliRun> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "packages", "datasync", "src", "cli.ts"), ...args], {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** The same, started in the background: `kill9()` once `stderr` shows `when`. */
export function migrateDataProcess(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([process.execPath, join(ROOT, "packages", "datasync", "src", "cli.ts"), ...args], {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderr = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr += decoder.decode(chunk);
  })();
  return {
    proc,
    stderr: () => stderr,
    async killWhen(pattern: RegExp) {
      await until(`migrate-data to print ${pattern}`, async () => {
        if (pattern.test(stderr)) return true;
        if (proc.exitCode !== null) throw new Error(`migrate-data exited ${proc.exitCode} first: ${stderr}`);
        return undefined;
      });
      proc.kill("SIGKILL");
      await proc.exited;
      await reading.catch(() => {});
    },
  };
}

/** `bun run promote …` as the operator runs it. */
export async function promoteCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "packages", "promote", "src", "cli.ts"), ...args], {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}
