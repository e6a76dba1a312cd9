import { afterAll, describe, expect, test } from "bun:test";
import { createNatsClient, deleteNamespace, readEnvelope, streamNames } from "@fig/events";
import { createApp, createLogger } from "@fig/service";
import { createTestAuth, TEST_NATS_URL } from "@fig/testing";
import { runService } from "../src/index.ts";
import { exitProbe, testServiceConfig } from "./helpers.ts";

// A change of the fault settings through the real bootstrap is published for the audit log on the service's subject.
const auth = createTestAuth();
const silent = createLogger({ service: "faults-audit-test", level: "silent" });
const namespace = `faultsaudit_${crypto.randomUUID().slice(0, 8)}`;
const nats = createNatsClient({ servers: TEST_NATS_URL, name: "faults-audit-test" });

afterAll(async () => {
  await deleteNamespace(await nats.manager(), namespace);
  await nats.close();
});

describe("fault injection in the audit log", () => {
  test("PUT /_fig/faults is one fault entry: who, the settings before and after", async () => {
    const { exit, exited } = exitProbe();
    const started = await runService({
      service: { name: "faults-audit", version: "0.0.0" },
      loadConfig: () =>
        testServiceConfig({ FIG_FAULTS: true, NATS_URL: TEST_NATS_URL, FIG_NAMESPACE: namespace }),
      events: {},
      exit,
      build: () => {
        const app = createApp({ name: "faults-audit", version: "0.0.0", logger: silent });
        app.get("/api/things", (c) => c.json({ ok: true }));
        return { app };
      },
    });
    try {
      const token = await auth.token({ sub: "dana", tenant: "platform", roles: ["operator"] });
      const res = await fetch(`http://127.0.0.1:${started.port}/_fig/faults`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ errorRate: 0.05 }),
      });
      expect(res.status).toBe(200);
      // The answer came after the publish was acknowledged: the entry is in the stream now.
      const js = await nats.jetstream();
      const consumer = await js.consumers.get(streamNames(namespace).events, {
        filter_subjects: `${namespace}.events.audit.recorded.faults-audit`,
      });
      const messages = await consumer.fetch({ max_messages: 10, expires: 1000 });
      const acts = [];
      for await (const msg of messages) acts.push(readEnvelope(msg.headers, msg.data).data);
      expect(acts).toHaveLength(1);
      expect(acts[0]).toMatchObject({
        kind: "fault",
        actor: { sub: "dana", tenant: "platform" },
        subject: "faults-audit",
        from: { errorRate: 0, latencyMs: 0 },
        to: { errorRate: 0.05, latencyMs: 0 },
      });
    } finally {
      void started.shutdown("SIGTERM");
      expect(await exited).toBe(0);
    }
  });
});
