/**
 * /docs in a real headless Chromium with no network beyond 127.0.0.1: the page must render the
 * operations from the service alone (no CDN, no web fonts), under its own Content-Security-Policy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRoute, z } from "@hono/zod-openapi";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { createApp, createLogger, createRouter, errorResponses } from "../src/index.ts";

const CHROMIUM = "/usr/bin/chromium";
// CI installs it (.ci/run); elsewhere say how, rather than fail on a missing browser.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`docs-browser.test.ts skipped: no ${CHROMIUM} (apt-get install -y chromium)`);

const Thing = z.object({ id: z.string().openapi({ example: "A1" }) }).openapi("Thing");
const listThings = createRoute({
  method: "get",
  path: "/things",
  operationId: "listThings",
  summary: "List every thing in the warehouse",
  responses: { 200: { description: "Things", content: { "application/json": { schema: z.array(Thing) } } } },
});
const getThing = createRoute({
  method: "get",
  path: "/things/{id}",
  operationId: "getThing",
  summary: "Fetch one thing by its identifier",
  request: { params: z.object({ id: z.string() }) },
  responses: {
    200: { description: "The thing", content: { "application/json": { schema: Thing } } },
    ...errorResponses(404),
  },
});

function buildApp() {
  const app = createApp({
    name: "docs-test",
    version: "0.0.0",
    logger: createLogger({ service: "t", level: "silent" }),
  });
  const things = createRouter();
  things.openapi(listThings, (c) => c.json([{ id: "A1" }], 200));
  things.openapi(getThing, (c) => c.json({ id: c.req.valid("param").id }, 200));
  app.route("/api", things);
  return app;
}

let server: ReturnType<typeof Bun.serve>;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!haveChromium) return;
  const app = buildApp();
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  profile = mkdtempSync(join(tmpdir(), "fig-docs-chromium-"));
  // A fresh profile per run: nothing cached from an earlier (online) visit can make the page work.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.stop(true);
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// zod (inside Scalar) probes `Function("")` once to decide whether to compile validators; the policy
// refuses it (no 'unsafe-eval') and zod uses its interpreter instead. Any other breach fails the test.
const isJitProbe = (violation: string) =>
  /^script-src(-elem)? blocked eval /.test(violation) || /'unsafe-eval'/.test(violation);

/** A page whose every request leaves only for 127.0.0.1; anything else is aborted and recorded. */
async function offlinePage(): Promise<{ page: Page; blocked: string[]; cspViolations: string[] }> {
  const page = await browser.newPage();
  const blocked: string[] = [];
  const cspViolations: string[] = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1" || url.protocol === "data:" || url.protocol === "blob:")
      return route.continue();
    blocked.push(url.href);
    return route.abort("internetdisconnected");
  });
  // Chromium reports each policy breach as a DOM event (and on the console); keep both.
  await page.exposeFunction("reportCspViolation", (what: string) => cspViolations.push(what));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as unknown as { reportCspViolation(what: string): void }).reportCspViolation(
        `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`,
      );
    });
  });
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  return { page, blocked, cspViolations };
}

describe.skipIf(!haveChromium)("/docs offline in headless Chromium", () => {
  test("renders every operation from the service alone, with no request off the machine", async () => {
    const { page, blocked, cspViolations } = await offlinePage();
    const response = await page.goto(`http://127.0.0.1:${server.port}/docs`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("default-src 'none'");

    // Scalar lists operations by summary once it has fetched and parsed /openapi.json; a user must see
    // each one (a visible element, not merely one in the DOM).
    const summaries = [listThings.summary, getThing.summary, "Liveness: the process is up"] as string[];
    for (const summary of summaries) {
      await page.getByText(summary).filter({ visible: true }).first().waitFor({ timeout: 90_000 });
    }

    expect(blocked).toEqual([]);
    expect(cspViolations.filter((v) => !isJitProbe(v))).toEqual([]);
    await page.close();
  }, 120_000);
});
