import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createNatsClient, deleteNamespace } from "@fig/events";
import { TEST_AUTH, TEST_NATS_URL } from "@fig/testing";
import { auth, until } from "../harness.ts";

// The gateway as a real process (Bun.serve's own body limit applies there, not under app.request) in front of
// an upstream that counts what arrives: a 200 MB upload passes whole, streamed, with the gateway's memory flat.
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;
const SIZE = 200 * MiB;
const namespace = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;

const upstream = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  maxRequestBodySize: 2 * SIZE,
  async fetch(request) {
    let bytes = 0;
    if (request.body) for await (const chunk of request.body) bytes += chunk.byteLength;
    return Response.json({ bytes });
  },
});

let gateway: Bun.Subprocess | undefined;
afterAll(async () => {
  gateway?.kill("SIGKILL");
  upstream.stop(true);
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-upload-cleanup" });
  // Every stream and bucket of the namespace (the gateway made its routes bucket there), over every page.
  await deleteNamespace(await nats.manager(), namespace);
  await nats.close();
});

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, "") ?? 0) / 1024;
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

describe("a 200 MB upload through the gateway process", () => {
  test("arrives whole at the upstream, and the gateway's RSS stays flat", async () => {
    const port = await freePort();
    gateway = Bun.spawn(["bun", MAIN], {
      env: {
        PATH: Bun.env.PATH ?? "",
        NODE_ENV: "test",
        HOST: "127.0.0.1",
        PORT: String(port),
        LOG_LEVEL: "warn",
        NATS_URL: TEST_NATS_URL,
        FIG_NAMESPACE: namespace,
        AUTH_DEV_SECRET: TEST_AUTH.secret,
        AUTH_ISSUER: TEST_AUTH.issuer,
        AUTH_AUDIENCE: TEST_AUTH.audience,
        MONOLITH_URL: upstream.url.origin,
        REFERENCE_DATA_URL: upstream.url.origin,
        VALIDATION_URL: upstream.url.origin,
      },
      stdout: "ignore",
      stderr: "inherit",
    });
    const base = `http://127.0.0.1:${port}`;
    await until(
      async () => (await fetch(`${base}/ready`).catch(() => undefined))?.status === 200,
      "the gateway to be ready",
      30_000,
    );
    const pid = gateway.pid;
    const before = rssMiB(pid);

    // 200 chunks of 1 MiB, generated as they are read: the test holds one chunk at a time too.
    const chunk = new Uint8Array(MiB).fill(0x61);
    let sent = 0;
    let peak = before;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= SIZE) return controller.close();
        sent += chunk.byteLength;
        peak = Math.max(peak, rssMiB(pid));
        controller.enqueue(chunk);
      },
    });
    const token = await auth.token({ roles: ["editor"] });
    const response = await fetch(`${base}/api/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ bytes: SIZE });
    // Streaming, not buffering: the gateway grows by far less than the body (200 MiB) while it passes.
    expect(peak - before).toBeLessThan(64);
  });
});
