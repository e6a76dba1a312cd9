import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  createDatasyncState,
  createRouteDataReader,
  DEFAULT_ROUTES_FILE,
  destroyNamespaceState,
  readDataRoute,
  verifySides,
} from "@fig/datasync";
import { createNatsClient, ensureStreams, streamNames } from "@fig/events";
import { parseRouteFile } from "@fig/route-file";
import type { QueueDeclaration } from "@fig/route-file/queues";
import { createTestDatabase } from "@fig/testing";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { codes } from "../../../../packages/dash/reference/src/index.ts";
import { codeInput } from "../../../dash/reference-data/test/helpers.ts";
import { MONOLITH_MIGRATIONS, REFERENCE_MIGRATIONS } from "../../../dash/reference-data/test/sync-helpers.ts";
import {
  generatedClaims,
  startPipeline,
  startWorker,
  useValidationApp,
  validateCsv,
} from "../../../dash/validation/test/helpers.ts";
import { queueStreamName } from "../../src/admin/jobs.ts";
import { auth, silent, testGateway } from "../harness.ts";
import { openBrowser, type Page, readPng, screenshotFolder, signIn, VIEWPORT } from "./browser.ts";

// The validation service for real (Postgres, NATS, worker), behind a real gateway socket, in a real browser.
const t = useValidationApp({ maxUploadBytes: 16 * 1024 * 1024 });
const gatewayNats = createNatsClient({ servers: "127.0.0.1:4222", name: "console-test" });
let promotions: unknown[] = [];
let base = "";
let gateway: ReturnType<typeof testGateway>;
let browser: Awaited<ReturnType<typeof openBrowser>>;
const stops: (() => unknown)[] = [];
const shots = screenshotFolder("console");

/** Dash's validation queue as the repository's route file declares it, and a made-up system's queue beside it. */
const validationQueue = parseRouteFile(
  await Bun.file(join(import.meta.dir, "../../../../fig.yaml")).text(),
  "fig.yaml",
).queues?.find((q) => q.name === "validation") as QueueDeclaration;
const transcriptionQueue: QueueDeclaration = {
  name: "notes-transcription",
  label: "Transcriptions",
  description: "A note's audio becomes text.",
  stream: "TRANSCRIPTION",
  consumer: "transcriber",
  subject: "transcription.requested",
  events: { requested: "transcription.requested", completed: "transcription.completed" },
  itemId: "noteId",
};

// The console and the admin API are an operator's: role operator in the operator tenant.
const operatorToken = () => auth.token({ roles: ["operator"], tenant: "platform", sub: "console-operator" });
// Tenant acme's people: refused by the console; acme's runs' progress is theirs to read.
const tenantToken = (roles: ("viewer" | "admin")[]) =>
  auth.token({ roles, tenant: "acme", sub: `acme-${roles.join("-")}` });

async function admin(method: string, path: string, body?: unknown) {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${await operatorToken()}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const tab = async (page: Page, name: string) => {
  await page.getByRole("link", { name }).click();
  const id = name === "Migration map" ? "map" : name.toLowerCase();
  await page.locator(`section#${id}:not([hidden])`).waitFor();
};

beforeAll(async () => {
  await startPipeline(t, { worker: false });
  const validation = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
  stops.push(() => validation.stop(true));
  gateway = testGateway({
    urls: {
      monolith: "http://127.0.0.1:9",
      referenceData: "http://127.0.0.1:9",
      validation: `http://127.0.0.1:${validation.port}`,
    },
    logger: silent,
    jobs: { nats: gatewayNats, namespace: t.namespace, queues: [validationQueue, transcriptionQueue] },
    console: { sampleMs: 200, tickMs: 100 },
    // packages/promote's records as the gateway's reader hands them over (GET /_fig/promotions reads the same).
    promotions: {
      bucket: "console-test",
      list: async (route?: string) =>
        promotions.filter((p) => !route || (p as { route: string }).route === route) as never,
    },
    // GET /_fig/data reads packages/datasync's KV bucket of this namespace, as in main.ts.
    data: createRouteDataReader(gatewayNats, t.namespace),
  });
  gateway.sampler.start();
  stops.push(() => gateway.sampler.stop());
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: gateway.app.fetch, idleTimeout: 0 });
  stops.push(() => server.stop(true));
  base = `http://127.0.0.1:${server.port}`;
  browser = await openBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const stop of stops.reverse()) await stop();
  await (await gatewayNats.manager()).streams
    .delete(queueStreamName(t.namespace, transcriptionQueue.stream))
    .catch(() => {});
  await destroyNamespaceState(gatewayNats, t.namespace).catch(() => {});
  await gatewayNats.close();
});

describe("the console in Debian's chromium", () => {
  test("opens with a pasted token, kept in sessionStorage and never in the URL", async () => {
    const token = await operatorToken();
    const page = await signIn(browser.context, base, token);
    expect(page.url()).toBe(`${base}/_fig/console`); // no JWT in the address
    expect(await page.evaluate(() => sessionStorage.getItem("fig.console.token"))).toBe(token);
    await page.locator("#who", { hasText: "console-operator" }).waitFor();
    await page.locator("#route-validation .weightbar[aria-label*='validation 0 %']").waitFor();
    await shots.take(page, "01-map-operator");
    for (const [name, file] of [
      ["Promotions", "02-promotions-empty"],
      ["Data", "03-data"],
      ["Shadow", "04-shadow-empty"],
      ["Jobs", "05-jobs-empty"],
    ] as const) {
      await tab(page, name);
      await shots.take(page, file);
    }
    await page.close();
  }, 60_000);

  test("the map says where each route's writes go: the owner, or wherever the weights send them", async () => {
    const page = await signIn(browser.context, base, await operatorToken());
    const writes = (route: string) => page.locator(`#route-${route} .owner`);
    // validation places each write by weight (a run lives where its POST went): no owner to name.
    expect(await writes("validation").textContent()).toBe(
      "writes → where weights send them (owner-per-request)",
    );
    expect(await writes("reference-data").textContent()).toBe("writes → monolith (write owner)");
    expect(await writes("default").textContent()).toBe("writes → monolith (write owner)");
    // The owner shown is the live one: moving it moves the label, and nothing else's.
    const move = (owner: string) =>
      gateway.store.change(
        "reference-data",
        { kind: "write-owner", writeOwner: owner },
        { who: "console-test", why: null },
      );
    await move("reference-data");
    try {
      await page
        .locator("#route-reference-data .owner", { hasText: "writes → reference-data (write owner)" })
        .waitFor();
      expect(await writes("validation").textContent()).toBe(
        "writes → where weights send them (owner-per-request)",
      );
    } finally {
      await move("monolith");
    }
    await page
      .locator("#route-reference-data .owner", { hasText: "writes → monolith (write owner)" })
      .waitFor();
    await page.close();
  }, 60_000);

  test("a weight change through the admin API moves the weight bar and the chart", async () => {
    const page = await signIn(browser.context, base, await operatorToken());
    expect(
      (
        await admin("PUT", "/_fig/routes/validation/weights", {
          weights: { monolith: 70, validation: 30 },
          reason: "canary 30",
        })
      ).status,
    ).toBe(200);
    await page.locator("#route-validation .weightbar[aria-label*='validation 30 %']").waitFor();
    await page.locator("#chart-weight-validation canvas").waitFor();
    expect(
      (await admin("PUT", "/_fig/routes/validation/weights", { weights: { monolith: 40, validation: 60 } }))
        .status,
    ).toBe(200);
    await page.locator("#route-validation .weightbar[aria-label*='validation 60 %']").waitFor();
    // The new service's segment is as wide as its weight.
    const widths = await page
      .locator("#route-validation .weightbar .seg")
      .evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().width)));
    expect(Math.abs((widths[1] ?? 0) / ((widths[0] ?? 0) + (widths[1] ?? 0)) - 0.6)).toBeLessThan(0.05);
    await shots.take(page, "06-map-after-weight-change");
    await page.close();
  }, 60_000);

  test("an operator sets weights from the page after confirming; the history names them", async () => {
    const page = await signIn(browser.context, base, await operatorToken());
    await page.getByRole("button", { name: "Set weights of reference-data" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("monolith (%)").fill("80");
    await dialog.getByLabel("reference-data (%)").fill("20");
    await dialog.getByLabel("Reason (recorded in the history with your name)").fill("from the console");
    await shots.take(page, "07-confirm-weights");
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await page.locator("#route-reference-data .weightbar[aria-label*='reference-data 20 %']").waitFor();
    const history = (await (await admin("GET", "/_fig/routes/reference-data/history")).json()) as {
      history: { who: string; why: string; to: unknown }[];
    };
    expect(history.history.at(-1)).toMatchObject({
      who: "console-operator",
      why: "from the console",
      to: { monolith: 80, "reference-data": 20 },
    });
    // Set inactive, also behind a confirmation, through the same admin API.
    await page.getByRole("button", { name: "Deactivate reference-data" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator("#route-reference-data .badge", { hasText: "inactive" }).waitFor();
    expect(gateway.store.get("reference-data")?.state).toBe("inactive");
    await page.close();
  }, 60_000);

  test("a tenant's viewer or admin is refused: the page stays signed out and says why, and the API refuses them too", async () => {
    // The control: an operator's page has the routes and their action buttons.
    const operatorPage = await signIn(browser.context, base, await operatorToken());
    await operatorPage.locator("#route-validation .weightbar").waitFor();
    expect(await operatorPage.locator("[data-action]").count()).toBeGreaterThan(0);
    await operatorPage.close();
    for (const roles of [["viewer"], ["admin"]] as const) {
      const token = await tenantToken([...roles]);
      const page = await browser.context.newPage();
      await page.goto(`${base}/_fig/console`);
      await page.getByLabel("Bearer token of an operator (role operator in the operator tenant)").fill(token);
      await page.getByRole("button", { name: "Open the console" }).click();
      await page.locator("#login-error", { hasText: "The gateway refused this token" }).waitFor();
      expect(await page.locator("body").getAttribute("data-state")).toBe("signed-out");
      expect(await page.locator("#route-validation").count()).toBe(0);
      if (roles[0] === "admin") await shots.take(page, "08-console-refuses-tenant-admin");
      await page.close();
      const refused = await fetch(`${base}/_fig/routes/validation/weights`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ weights: { monolith: 100 } }),
      });
      expect(refused.status).toBe(403);
    }
  }, 60_000);

  test("a dead letter is replayed from the page: back on its subject, gone from the DLQ", async () => {
    const jsm = await gatewayNats.manager();
    await ensureStreams(jsm, t.namespace);
    const js = await gatewayNats.jetstream();
    const subject = `${t.namespace}.events.reference.changed`;
    const eventId = crypto.randomUUID();
    const h = natsHeaders();
    h.set("ce-specversion", "1.0");
    h.set("ce-id", eventId);
    h.set("ce-type", "reference.changed");
    h.set("fig-dlq-consumer", "validation-reference-sync");
    h.set("fig-dlq-error", "relation codes does not exist");
    h.set("fig-dlq-deliveries", "5");
    h.set("fig-dlq-subject", subject);
    h.set("fig-dlq-time", new Date().toISOString());
    const { seq } = await js.publish(`${t.namespace}.dlq.validation-reference-sync`, '{"resource":"codes"}', {
      headers: h,
    });

    const page = await signIn(browser.context, base, await operatorToken());
    await tab(page, "Jobs");
    const row = page.locator(`tr[data-seq="${seq}"]`);
    await row.getByText("relation codes does not exist").waitFor();
    await shots.take(page, "09-jobs-dead-letter");
    await page.getByRole("button", { name: `Replay dead letter ${seq}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await row.waitFor({ state: "detached" });
    await page.locator("#toast", { hasText: `Dead letter #${seq} replayed` }).waitFor();
    const events = await jsm.streams.info(streamNames(t.namespace).events, { subjects_filter: subject });
    const last = await jsm.streams.getMessage(streamNames(t.namespace).events, { last_by_subj: subject });
    expect((events.state.subjects as Record<string, number>)[subject]).toBe(1);
    expect(last?.header?.get("ce-id")).toBe(eventId);
    await page.close();
  }, 60_000);

  test("a second system's queue declared beside Dash's gets its own panel with its counts and jobs", async () => {
    const jsm = await gatewayNats.manager();
    const stream = queueStreamName(t.namespace, transcriptionQueue.stream);
    await jsm.streams.add({
      name: stream,
      subjects: [`${t.namespace}.transcription.>`],
      retention: "workqueue",
    });
    await jsm.consumers.add(stream, {
      durable_name: "transcriber",
      ack_policy: "explicit",
      filter_subject: `${t.namespace}.transcription.requested`,
      ack_wait: 10 * 60 * 1_000_000_000,
    });
    const js = await gatewayNats.jetstream();
    const send = (subject: string, type: string, data: unknown) => {
      const h = natsHeaders();
      h.set("ce-specversion", "1.0");
      h.set("ce-id", crypto.randomUUID());
      h.set("ce-type", type);
      h.set("ce-time", new Date().toISOString());
      h.set("tenant", "acme");
      return js.publish(`${t.namespace}.${subject}`, JSON.stringify(data), { headers: h });
    };
    for (const noteId of ["note-a", "note-b", "note-c"])
      await send("transcription.requested", "transcription.requested", { noteId });
    await send("events.transcription.completed", "transcription.completed", { noteId: "note-0" });
    // A transcriber takes note-a and is still working on it.
    const taken = await (await js.consumers.get(stream, "transcriber")).next({ expires: 10_000 });
    expect(taken?.json()).toEqual({ noteId: "note-a" });

    const page = await signIn(browser.context, base, await operatorToken());
    await tab(page, "Jobs");
    const panel = page.locator("#queue-notes-transcription");
    await panel.getByRole("heading", { name: "Transcriptions" }).waitFor();
    await panel.locator("[data-run='note-a'][data-state='processing']").waitFor();
    const count = (name: string) => panel.locator(`[data-testid='count-${name}']`).textContent();
    expect(await count("queued")).toBe("2");
    expect(await count("processing")).toBe("1");
    expect(await count("completed")).toBe("1");
    expect(await count("failed")).toBe("—"); // the declaration names no failed event
    expect(
      await panel.locator("[data-run]").evaluateAll((els) => els.map((e) => e.getAttribute("data-run"))),
    ).toEqual(["note-a", "note-b", "note-c"]);
    // No progress endpoint declared: no progress bar to fill.
    expect(await panel.locator("progress").count()).toBe(0);
    // Dash's panel is still there, counting only its own queue.
    expect(await page.locator("#queue-validation [data-testid='count-queued']").textContent()).toBe("0");
    await shots.take(page, "10-jobs-second-queue");
    await taken?.ackAck();
    // Acknowledged, it leaves the queue; the panel keeps it a while as done.
    await panel.locator("[data-run='note-a'][data-state='done']").waitFor();
    expect(await count("processing")).toBe("0");
    await page.close();
  }, 60_000);

  test("a running validation: the operator sees it processing then done; its progress is read with the tenant's own token", async () => {
    // The whole route to the validation service, so the page's /api/validations/{id}/events reaches it.
    expect(
      (await admin("PUT", "/_fig/routes/validation/weights", { weights: { monolith: 0, validation: 100 } }))
        .status,
    ).toBe(200);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let reached: () => void = () => {};
    const midway = new Promise<void>((r) => {
      reached = r;
    });
    await startWorker(t, {
      progressEveryRows: 500,
      afterProgress: async () => {
        reached();
        await held;
      },
    });
    const { bytes } = await generatedClaims(t, 3000, { seed: 5 });
    const page = await signIn(browser.context, base, await operatorToken());
    await tab(page, "Jobs");
    const id = await validateCsv(t, bytes);
    await midway; // the run is processing, held after its first progress update
    const run = page.locator(`[data-run="${id}"]`);
    await run.waitFor();
    await page.locator(`[data-run="${id}"][data-state="processing"]`).waitFor();
    // The run is acme's: the operator's console says whose progress it is and does not read it.
    await run.getByText("progress visible to tenant acme").waitFor();
    await shots.take(page, "11-jobs-run-in-progress");
    const progress = `${base}/api/validations/${id}/events`;
    const asOperator = await fetch(progress, {
      headers: { authorization: `Bearer ${await operatorToken()}` },
    });
    expect(asOperator.status).toBe(403);
    await asOperator.body?.cancel();
    const asTenant = await fetch(progress, {
      headers: { authorization: `Bearer ${await tenantToken(["viewer"])}` },
    });
    expect(asTenant.status).toBe(200);
    expect(asTenant.headers.get("content-type")).toContain("text/event-stream");
    await asTenant.body?.cancel();
    release();
    await page.locator(`[data-run="${id}"][data-state="done"]`).waitFor();
    await page.locator("#queue-validation [data-testid='count-completed']", { hasText: "1" }).waitFor();
    await shots.take(page, "12-jobs-run-completed");
    await page.close();
  }, 90_000);

  test("a rolled-back promotion is shown with its reason and the numbers behind every step", async () => {
    const page = await signIn(browser.context, base, await operatorToken());
    await tab(page, "Promotions");
    await page.getByText("No promotion yet").waitFor();
    const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    const thresholds = [
      {
        key: "http_req_duration",
        expression: "p(95)<500",
        ok: true,
        inconclusive: false,
        value: 41,
        samples: 300,
      },
      {
        key: "http_req_failed",
        expression: "rate<0.01",
        ok: false,
        inconclusive: false,
        value: 0.052,
        samples: 300,
      },
    ];
    const gateway = (p95: number, errorRate: number, requests: number) => ({
      upstream: "validation",
      from: at(0),
      to: at(10),
      numbers: { p95, errorRate, requests },
      errors: Math.round(errorRate * requests),
      thresholds,
      note: "",
    });
    promotions = [
      {
        id: "p1-validation",
        route: "validation",
        candidate: "validation",
        stable: "monolith",
        state: "rolled-back",
        effectiveState: "rolled-back",
        steps: [10, 25, 50, 100],
        step: 2,
        stepDurationMs: 10_000,
        actor: "alice",
        startedAt: at(0),
        finishedAt: at(25),
        reason: "step 2 of 4: gateway http_req_failed rate<0.01 was 0.052",
        decisions: [
          {
            step: 1,
            of: 4,
            attempt: 1,
            weights: { monolith: 90, validation: 10 },
            startedAt: at(0),
            at: at(10),
            verdict: "pass",
            reason: "gate pass, gateway pass (120 candidate requests)",
            gate: { engine: "builtin", numbers: { p95: 38, errorRate: 0, requests: 400 }, thresholds },
            gateway: gateway(38, 0, 120),
          },
          {
            step: 2,
            of: 4,
            attempt: 1,
            weights: { monolith: 75, validation: 25 },
            startedAt: at(10),
            at: at(20),
            verdict: "fail",
            reason: "gateway http_req_failed rate<0.01 was 0.052",
            gate: { engine: "builtin", numbers: { p95: 41, errorRate: 0.05, requests: 400 }, thresholds },
            gateway: gateway(41, 0.052, 310),
          },
        ],
        events: [
          {
            at: at(0),
            what: "weights",
            actor: "alice",
            detail: null,
            weights: { monolith: 90, validation: 10 },
          },
          {
            at: at(10),
            what: "weights",
            actor: "alice",
            detail: null,
            weights: { monolith: 75, validation: 25 },
          },
          {
            at: at(20),
            what: "rollback",
            actor: "alice",
            detail: "step 2 failed",
            weights: { monolith: 100, validation: 0 },
          },
        ],
      },
    ];
    const card = page.locator("details[data-promotion='p1-validation']");
    await card.waitFor();
    await card.locator("summary").click();
    await card.getByText("step 2 of 4: gateway http_req_failed rate<0.01 was 0.052").waitFor();
    const failedStep = card.locator("table.steps tbody tr").nth(1);
    await failedStep.getByText("fail", { exact: true }).waitFor();
    expect(await failedStep.textContent()).toContain("5.20 %"); // the error rate behind the verdict
    expect(await failedStep.textContent()).toContain("41 ms");
    expect(await card.locator("table.steps thead").textContent()).toContain("budget 500 ms");
    await card.locator("canvas").first().waitFor();
    await shots.take(page, "13-promotion-rolled-back");
    await page.close();
  }, 60_000);

  test("Data shows the write owner and the last verify (counts, first differing key) after a verify run", async () => {
    const owner = await createTestDatabase({ service: "monolith", migrationsFolder: MONOLITH_MIGRATIONS });
    const candidate = await createTestDatabase({
      service: "reference-data",
      migrationsFolder: REFERENCE_MIGRATIONS,
    });
    try {
      // A code on the owner only: the verify (migrate-data verify's code path) names it.
      await owner.db.insert(codes).values({ ...codeInput("97001"), search_text: "97001" } as never);
      const verify = await verifySides({
        owner: { name: "monolith", db: owner.db },
        candidate: { name: "reference-data", db: candidate.db },
        tables: readDataRoute(DEFAULT_ROUTES_FILE, "reference-data").tables,
      });
      await createDatasyncState(gatewayNats, t.namespace).update("reference-data", (s) => ({
        ...s,
        lastVerify: verify,
      }));
      const page = await signIn(browser.context, base, await operatorToken());
      await tab(page, "Data");
      const row = page.locator("section#data tr[data-route='reference-data']");
      await row.getByText("mismatch").waitFor();
      expect(await row.locator("td").first().textContent()).toBe("monolith");
      expect(await row.locator("[data-verify-counts]").textContent()).toContain("codes 1 ≠ 0");
      expect(await row.locator("[data-verify-differences]").textContent()).toContain("codes/97001 (missing)");
      await shots.take(page, "14-data-verify");
      await page.close();
    } finally {
      await owner.drop();
      await candidate.drop();
    }
  }, 60_000);
});

test("this run wrote every screenshot, each a fresh PNG at the viewport's width", async () => {
  const names = [
    "01-map-operator",
    "02-promotions-empty",
    "03-data",
    "04-shadow-empty",
    "05-jobs-empty",
    "06-map-after-weight-change",
    "07-confirm-weights",
    "08-console-refuses-tenant-admin",
    "09-jobs-dead-letter",
    "10-jobs-second-queue",
    "11-jobs-run-in-progress",
    "12-jobs-run-completed",
    "13-promotion-rolled-back",
    "14-data-verify",
  ];
  // The folder was emptied when this file started, so only this run's files can be in it.
  expect(readdirSync(shots.dir).sort()).toEqual(names.map((n) => `${n}.png`));
  for (const path of shots.taken) {
    const png = await readPng(path);
    expect(png.mtimeMs).toBeGreaterThanOrEqual(shots.startedAt);
    expect(png.width).toBe(VIEWPORT.width);
    expect(png.height).toBeGreaterThanOrEqual(VIEWPORT.height);
    expect(png.bytes).toBeGreaterThan(10_000);
  }
});
