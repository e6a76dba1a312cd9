import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  auth,
  CANDIDATE,
  ROUTE,
  type Stack,
  spawnCli,
  startStack,
  until,
} from "../../../../packages/promote/test/harness.ts";
import { openBrowser, type Page, readPng, screenshotFolder, signIn, VIEWPORT } from "./browser.ts";

// The real gateway process (its main.ts, real NATS KV), two small upstreams (the candidate behind FIG_FAULTS'
// fault injection) and the real `bun run promote` CLI as its own process, watched in Debian's chromium.
const READ = join(import.meta.dir, "../../../../packages/promote/test/fixtures/read.js");
let stack: Stack;
let browser: Awaited<ReturnType<typeof openBrowser>>;
const shots = screenshotFolder("promotion-flow");

// The console and its actions are an operator's (role operator in the operator tenant); a tenant's admin is refused.
const operatorToken = () => auth.token({ roles: ["operator"], tenant: "platform", sub: "console-operator" });
const tenantAdminToken = () => auth.token({ roles: ["admin"], tenant: "acme", sub: "acme-admin" });
const bar = `#route-${ROUTE} .weightbar`;

beforeAll(async () => {
  stack = await startStack();
  browser = await openBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});
beforeEach(async () => {
  await stack.reset();
});
// A failed flow must not leave its promote process holding the route's lock for the next one.
const clis: ReturnType<typeof spawnCli>[] = [];
afterEach(async () => {
  for (const cli of clis.splice(0)) {
    if (cli.exitCode === null) cli.kill("SIGKILL");
    await cli.exited;
  }
  await until(
    async () => !(await stack.store.readLock(ROUTE)) || undefined,
    "the route's lock released",
    5000,
  ).catch(() => {});
});

const promote = (steps: string, stepDuration: string) => {
  const cli = spawnCli(stack, [
    ROUTE,
    "--to",
    CANDIDATE,
    "--gate",
    READ,
    "--steps",
    steps,
    "--step-duration",
    stepDuration,
    "--min-requests",
    "20",
    "--vus",
    "2",
    "--engine",
    "builtin",
  ]);
  clis.push(cli);
  return cli;
};

/** The id of the route's latest promotion, once the CLI has recorded one newer than `after`. */
const latestId = (after?: string) =>
  until(async () => {
    const id = (await stack.store.latest(ROUTE))?.value.id;
    return id && id !== after ? id : undefined;
  }, "the CLI's promotion record");

async function promotionsTab(page: Page) {
  await page.getByRole("link", { name: "Promotions" }).click();
  await page.locator("section#promotions:not([hidden])").waitFor();
}

/** Every weight-bar label the page showed for the route, in order (each SSE swap of the map, in the page). */
async function recordWeightBar(page: Page) {
  await page.evaluate((selector) => {
    const seen: string[] = [];
    (window as unknown as { seenWeights: string[] }).seenWeights = seen;
    const note = () => {
      const label = document.querySelector(selector)?.getAttribute("data-weights");
      if (label && seen.at(-1) !== label) seen.push(label);
    };
    note();
    new MutationObserver(note).observe(document.getElementById("section-map") as HTMLElement, {
      childList: true,
      subtree: true,
    });
  }, bar);
  return () => page.evaluate(() => (window as unknown as { seenWeights: string[] }).seenWeights);
}

const chartPoints = async (page: Page, selector: string) => {
  const spec = await page.locator(`${selector} [data-chart]`).first().getAttribute("data-chart");
  return spec ? (JSON.parse(spec) as { x: number[] }).x.length : 0;
};

async function postAction(token: string, op: string, reason?: string) {
  return fetch(`${stack.baseUrl}/_fig/promotions/${ROUTE}/${op}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(reason ? { reason } : {}),
  });
}

describe("promotions in the console, driven by the real promote CLI", () => {
  test("a promotion started from the CLI moves the weight bar and the chart, step by step, to 100 %", async () => {
    const page = await signIn(browser.context, stack.baseUrl, await operatorToken());
    const seen = await recordWeightBar(page);
    await page.locator(`${bar}[aria-label*='${CANDIDATE} 0 %']`).waitFor();
    const previous = (await stack.store.latest(ROUTE))?.value.id;
    const cli = promote("25,50,100", "2s");
    const id = await latestId(previous);
    await page.locator(`${bar}[aria-label*='${CANDIDATE} 25 %']`).waitFor();
    await shots.take(page, "20-map-promotion-step-1");
    await promotionsTab(page);
    const live = page.locator("article.live[data-status='running']");
    await live.waitFor();
    await live.locator("[data-testid='step']", { hasText: "of 3" }).waitFor();
    await live.locator("canvas").first().waitFor();
    const before = await chartPoints(page, "article.live");
    // The chart moves: a later window's decision or weight change adds points while the step advances.
    await live.locator("[data-testid='step']", { hasText: /^\s*[23] of 3/ }).waitFor();
    await until(async () => (await chartPoints(page, "article.live")) > before, "the chart's new points");
    await shots.take(page, "21-promotion-running");

    expect(await cli.exited).toBe(0);
    const past = page.locator(`details.past[data-promotion='${id}'][data-status='succeeded']`);
    await past.waitFor();
    await past.locator("summary").click();
    await past.locator("table.steps tbody tr").nth(2).getByText("pass", { exact: true }).waitFor();
    expect(await past.locator("table.steps tbody tr td:nth-child(3)").allTextContents()).toEqual([
      "pass",
      "pass",
      "pass",
    ]);
    await past.locator("canvas").first().waitFor();
    await shots.take(page, "22-promotion-promoted");
    // Every weight the promotion set was on the page, in order.
    await page.locator(`${bar}[aria-label*='${CANDIDATE} 100 %']`).waitFor({ state: "attached" });
    const labels = await seen();
    const candidateShares = labels.map((l) => Number(new RegExp(`${CANDIDATE} (\\d+) %`).exec(l)?.[1]));
    expect(candidateShares.filter((w) => [0, 25, 50, 100].includes(w))).toEqual([0, 25, 50, 100]);
    await page.close();
  }, 90_000);

  test("pause, resume and roll back from the console, each with a reason; a tenant's admin gets a 403 and changes nothing", async () => {
    const previous = (await stack.store.latest(ROUTE))?.value.id;
    const cli = promote("25,100", "120s"); // long steps: the page's rollback ends it
    const id = await latestId(previous);
    await until(async () => (await stack.weights())[CANDIDATE] === 25, "step 1's weights");
    const page = await signIn(browser.context, stack.baseUrl, await operatorToken());
    await promotionsTab(page);
    await page.locator("article.live[data-status='running']").waitFor();

    await shots.take(page, "23-promotion-running");
    // A tenant's admin may not steer the promotion: each action is refused and the record is as it was.
    // Its state and events (the heartbeat moves on by itself while the promotion runs).
    const steering = async () => {
      const value = (await stack.store.latest(ROUTE))?.value;
      return JSON.stringify({ state: value?.state, events: value?.events });
    };
    const recordBefore = await steering();
    const weights = await stack.weights();
    for (const op of ["pause", "resume", "rollback"])
      expect((await postAction(await tenantAdminToken(), op, "tenant admin try")).status).toBe(403);
    expect(await steering()).toBe(recordBefore);
    expect(await stack.weights()).toEqual(weights);

    await page.getByRole("button", { name: `pause the promotion of ${ROUTE}` }).click();
    let dialog = page.getByRole("dialog");
    await dialog.getByLabel("Reason (recorded in the history with your name)").fill("hold for the dashboard");
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await page.locator("article.live[data-status='paused']").waitFor();
    await page.getByRole("button", { name: `resume the promotion of ${ROUTE}` }).waitFor();
    await shots.take(page, "24-promotion-paused");
    const paused = (await stack.store.latest(ROUTE))?.value;
    expect(paused?.events.find((e) => e.what === "paused")).toMatchObject({
      actor: "console-operator",
      detail: "paused by console-operator: hold for the dashboard",
    });
    expect(await stack.weights()).toEqual({ monolith: 75, [CANDIDATE]: 25 }); // holding its weights

    await page.getByRole("button", { name: `resume the promotion of ${ROUTE}` }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await page.locator("article.live[data-status='running']").waitFor();
    await page.getByRole("button", { name: `pause the promotion of ${ROUTE}` }).waitFor();

    await page.getByRole("button", { name: `rollback the promotion of ${ROUTE}` }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel("Reason (recorded in the history with your name)").fill("p95 looks wrong");
    await shots.take(page, "25-confirm-rollback");
    await dialog.getByRole("button", { name: "Confirm" }).click();
    const past = page.locator(`details.past[data-promotion='${id}'][data-status='rolled-back']`);
    await past.waitFor();
    await past.getByText("p95 looks wrong").waitFor();
    await past.getByText("(rolled back by console-operator)").waitFor();
    await shots.take(page, "26-promotion-rolled-back-from-console");
    // At once, and in the route's history with the actor; the CLI's process stopped as rolled back.
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    expect(await cli.exited).toBe(1);
    const history = (await (
      await fetch(`${stack.baseUrl}/_fig/routes/${ROUTE}/history`, {
        headers: { authorization: `Bearer ${await operatorToken()}` },
      })
    ).json()) as { history: { who: string; why: string; to: Record<string, number> }[] };
    expect(history.history.at(-1)).toMatchObject({
      who: "console-operator",
      why: "promote rollback: p95 looks wrong",
      to: { monolith: 100, [CANDIDATE]: 0 },
    });
    const record = (await stack.store.latest(ROUTE))?.value;
    expect(record).toMatchObject({ state: "rolled-back", reason: "p95 looks wrong" });
    // Nothing left to resume: the API says so.
    const again = await postAction(await operatorToken(), "resume");
    expect(again.status).toBe(422);
    await page.getByRole("link", { name: "Migration map" }).click();
    await page.locator(`${bar}[aria-label*='${CANDIDATE} 0 %']`).waitFor();
    await page.close();
  }, 120_000);

  test("a promotion whose process died offers the CLI to resume it; the gateway's resume refuses with the command", async () => {
    const previous = (await stack.store.latest(ROUTE))?.value.id;
    const cli = promote("25,100", "120s");
    const id = await latestId(previous);
    await until(async () => (await stack.store.latest(ROUTE))?.value.weights[CANDIDATE] === 25, "step 1");
    cli.kill("SIGKILL");
    await cli.exited;
    const page = await signIn(browser.context, stack.baseUrl, await operatorToken());
    await promotionsTab(page);
    // Once the lease (1 s here) lapses, the promotion shows paused, with no process to resume it.
    await page.locator("article.live[data-status='paused'] [data-testid='resume-from-cli']").waitFor();
    expect(await page.getByRole("button", { name: `resume the promotion of ${ROUTE}` }).count()).toBe(0);
    await page.getByText(`bun run promote resume ${ROUTE}`).waitFor();
    await shots.take(page, "27-promotion-interrupted");
    const refused = await postAction(await operatorToken(), "resume");
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { detail: string }).detail).toContain(
      `bun run promote resume ${ROUTE}`,
    );
    // A rollback needs no process.
    await page.getByRole("button", { name: `rollback the promotion of ${ROUTE}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator(`details.past[data-promotion='${id}'][data-status='rolled-back']`).waitFor();
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    await page.close();
  }, 90_000);

  test("a faulty candidate (5 % injected 500s) is rolled back at step 1, shown with its reason and numbers", async () => {
    stack.faults.set({ errorRate: 0.05, latencyMs: 0 });
    const page = await signIn(browser.context, stack.baseUrl, await operatorToken());
    await promotionsTab(page);
    const previous = (await stack.store.latest(ROUTE))?.value.id;
    const cli = promote("25,100", "2s");
    expect(await cli.exited).toBe(1);
    const id = await latestId(previous);
    const past = page.locator(`details.past[data-promotion='${id}'][data-status='rolled-back']`);
    await past
      .getByText(/step 1 of 2: .*http_req_failed rate<0\.01/)
      .first()
      .waitFor();
    await past.locator("summary").click();
    const step = past.locator("table.steps tbody tr").first();
    await step.getByText("fail", { exact: true }).waitFor();
    // The error rate behind the verdict, over the 1 % budget, and the request count.
    const errorCell = step.locator("td").nth(4);
    expect(Number.parseFloat((await errorCell.textContent()) ?? "")).toBeGreaterThan(1);
    expect(await errorCell.getAttribute("class")).toBe("over");
    expect(Number(await step.locator("td").nth(5).textContent())).toBeGreaterThanOrEqual(20);
    expect(await past.locator("table.steps thead").textContent()).toContain("budget 1.00 %");
    await past.locator("canvas").first().waitFor();
    await shots.take(page, "28-promotion-rolled-back-faulty-candidate");
    expect(await stack.weights()).toEqual({ monolith: 100, [CANDIDATE]: 0 });
    await page.close();
  }, 90_000);
});

test("this run wrote every flow's screenshots, each a fresh PNG at the viewport's width", async () => {
  const names = [
    "20-map-promotion-step-1",
    "21-promotion-running",
    "22-promotion-promoted",
    "23-promotion-running",
    "24-promotion-paused",
    "25-confirm-rollback",
    "26-promotion-rolled-back-from-console",
    "27-promotion-interrupted",
    "28-promotion-rolled-back-faulty-candidate",
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
