import { join } from "node:path";
import { createNatsClient, deleteNamespace } from "@fig/events";
import { createFaultInjection } from "@fig/service";
import { createTestAuth, TEST_AUTH } from "@fig/testing";
import { createGatewayClient } from "../src/gateway-client.ts";
import { createPromotionStore, promotionsBucketName } from "../src/store.ts";

export const ROOT = join(import.meta.dir, "..", "..", "..");
export const NATS_URL = "nats://127.0.0.1:4222";
export const ROUTE = "reference-data";
export const CANDIDATE = "reference-data";
export const auth = createTestAuth();

/** What an upstream answers to GET /api/codes: `monolith`'s answer is the reference for the shadow. */
export type Answer = (upstream: "monolith" | "candidate", call: number) => unknown;
const sameAnswer: Answer = () => ({ items: [{ code: "A1", label: "Alpha" }], total: 1 });

function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

/** Polls until `check` holds or the deadline passes (generous: machines differ several-fold in speed). */
export async function until<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  ms = 30_000,
) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value as T;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The stack a promotion needs, real where it matters: the gateway as its own process (its real main.ts,
 * real NATS KV under a unique namespace), and two in-process upstreams, the candidate behind the same
 * fault injection FIG_FAULTS=1 installs (a deterministic share of 500s, extra latency).
 */
export async function startStack() {
  const namespace = `promotest_${process.pid}_${Date.now().toString(36)}`;
  let answer: Answer = sameAnswer;
  let calls = 0;
  const handler = (upstream: "monolith" | "candidate") => (request: Request) => {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/api/")) return Response.json(answer(upstream, calls++));
    return new Response("not found", { status: 404 });
  };
  let draw = 0;
  const faults = createFaultInjection({
    checkOperator: async () => null,
    // Exactly `errorRate` of the requests fail: draws 0, 0.05, 0.10, … repeat every 20 requests.
    random: () => (draw++ % 20) / 20,
  });
  const monolith = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler("monolith") });
  const candidate = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: faults.wrap(handler("candidate")) });
  const port = freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...Bun.env, // PATH and the like for the child; the test kit reads no variable of its own here
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_LEVEL: "warn",
    NATS_URL,
    FIG_NAMESPACE: namespace,
    MONOLITH_URL: `http://127.0.0.1:${monolith.port}`,
    REFERENCE_DATA_URL: `http://127.0.0.1:${candidate.port}`,
    VALIDATION_URL: `http://127.0.0.1:${monolith.port}`,
    AUTH_ISSUER: TEST_AUTH.issuer,
    AUTH_AUDIENCE: TEST_AUTH.audience,
    AUTH_DEV_SECRET: TEST_AUTH.secret,
    RATE_LIMIT_PER_MINUTE: "1000000",
  };
  const gatewayProcess = Bun.spawn(["bun", join(ROOT, "services/gateway/src/main.ts")], {
    cwd: ROOT,
    env,
    stdout: "ignore",
    stderr: "inherit",
  });
  await until(
    async () => (await fetch(`${baseUrl}/ready`).catch(() => null))?.status === 200,
    "the gateway's /ready",
  );
  const nats = createNatsClient({ servers: NATS_URL, name: "promote-test" });
  const store = createPromotionStore({
    connection: () => nats.connection(),
    bucket: promotionsBucketName(namespace),
  });
  const operatorToken = await auth.token({ roles: ["operator"], tenant: "platform", sub: "alice" });
  const gateToken = await auth.token({ roles: ["gate"], sub: "alice:gate" });
  const gateway = createGatewayClient({ baseUrl, token: operatorToken });

  /** The environment the promote CLI needs to reach this stack (as a separate process). */
  const cliEnv = {
    ...env,
    FIG_GATEWAY_URL: baseUrl,
    FIG_PROMOTE_TOKEN: operatorToken,
    FIG_GATE_TOKEN: gateToken,
    FIG_PROMOTE_LEASE_MS: "1000",
    LOG_LEVEL: "warn",
  };

  return {
    namespace,
    nats,
    baseUrl,
    store,
    gateway,
    operatorToken,
    gateToken,
    faults,
    cliEnv,
    setAnswer(next: Answer | null) {
      answer = next ?? sameAnswer;
    },
    async weights() {
      const route = await gateway.route(ROUTE);
      return Object.fromEntries(route.upstreams.map((u) => [u.name, u.weight]));
    },
    /** Back to 100 % monolith, no faults, same answers. */
    async reset() {
      faults.set({ errorRate: 0, latencyMs: 0 });
      answer = sameAnswer;
      await gateway.setWeights(ROUTE, { monolith: 100, [CANDIDATE]: 0 }, "test reset");
    },
    async stop() {
      gatewayProcess.kill("SIGTERM");
      await gatewayProcess.exited;
      monolith.stop(true);
      candidate.stop(true);
      // Every bucket the stack made: routes, promotions, and the datasync records the gateway reads.
      await deleteNamespace(await nats.manager(), namespace);
      await nats.close();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** Runs the promote CLI as its own process against the stack. */
export function spawnCli(stack: Stack, args: string[], env: Record<string, string> = {}) {
  return Bun.spawn(["bun", join(ROOT, "packages/promote/src/cli.ts"), ...args], {
    cwd: ROOT,
    env: { ...stack.cliEnv, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}
