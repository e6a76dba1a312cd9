import { afterAll, describe, expect, test } from "bun:test";
import { createNatsClient, deleteStreams } from "@fig/events";
import { createTestDatabase, TEST_AUTH, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { MIGRATIONS } from "./helpers.ts";

// The real service process (src/main.ts) against real Postgres and NATS, with reference-data unreachable or
// hung: SIGTERM must end it cleanly (exit 0) within SHUTDOWN_TIMEOUT_MS; past that the bootstrap exits 1.
const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const created: TestDatabase[] = [];
const namespaces: string[] = [];

afterAll(async () => {
  for (const tdb of created) await tdb.drop();
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "validation-shutdown-cleanup" });
  for (const ns of namespaces) await deleteStreams(await nats.manager(), ns);
  await nats.close();
});

async function freshDatabaseUrl(): Promise<string> {
  const tdb = await createTestDatabase({
    service: "validation",
    migrationsFolder: MIGRATIONS,
    requiresServer: "the service runs as a child process on the same database",
  });
  created.push(tdb);
  if (!tdb.url) throw new Error("no database URL");
  return tdb.url;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  deadlineMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("validation stops within its grace period while reference-data is down", () => {
  for (const kind of ["refusing connections", "accepting and never answering"] as const) {
    test(`reference-data ${kind}`, async () => {
      // A port that refuses (listener closed at once) or a listener that accepts and never writes a byte.
      let connections = 0;
      const listener = Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        socket: { open: () => void connections++, data: () => {} },
      });
      const referencePort = listener.port;
      if (kind === "refusing connections") listener.stop(true);
      const namespace = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
      namespaces.push(namespace);
      const proc = Bun.spawn(["bun", MAIN], {
        env: {
          PATH: Bun.env.PATH ?? "",
          NODE_ENV: "test",
          PORT: "0",
          HOST: "127.0.0.1",
          LOG_LEVEL: "info",
          DATABASE_URL: await freshDatabaseUrl(),
          NATS_URL: TEST_NATS_URL,
          FIG_NAMESPACE: namespace,
          AUTH_DEV_SECRET: TEST_AUTH.secret,
          AUTH_ISSUER: TEST_AUTH.issuer,
          AUTH_AUDIENCE: TEST_AUTH.audience,
          REFERENCE_DATA_URL: `http://127.0.0.1:${referencePort}`,
          SHUTDOWN_TIMEOUT_MS: "3000",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const lines: string[] = [];
      void (async () => {
        const decoder = new TextDecoderStream();
        for await (const chunk of proc.stdout.pipeThrough(decoder))
          lines.push(...chunk.split("\n").filter(Boolean));
      })();
      const logged = (msg: string) => lines.some((l) => (JSON.parse(l) as { msg?: string }).msg === msg);
      try {
        // Synchronize on the state itself: the service listens, and the read-model seed is mid-retry or mid-fetch.
        await waitFor("the service to start", async () => (logged("started") ? true : undefined));
        if (kind === "refusing connections")
          await waitFor("a failed seed attempt", async () =>
            lines.some((l) => l.includes("reference-data unreachable")) ? true : undefined,
          );
        else await waitFor("the seed's connection", async () => (connections > 0 ? true : undefined));
        proc.kill("SIGTERM");
        const code = await proc.exited;
        if (code !== 0) console.error(lines.slice(-12).join("\n"));
        expect({ code, stopped: logged("stopped") }).toEqual({ code: 0, stopped: true });
      } finally {
        proc.kill("SIGKILL");
        listener.stop(true);
      }
    });
  }
});
