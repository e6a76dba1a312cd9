import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Where the flows save their screenshots (gitignored), one PNG per page and state, for people to look at. */
export const SCREENSHOTS = join(import.meta.dir, "__screenshots__");

export const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Debian's chromium driven by playwright-core, with a fresh profile (--user-data-dir in a new temp dir) that
 * is removed on close. One browser per test file; one context per signed-in person.
 */
export async function openBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "fig-console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1366, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser, Page };

/** Opens the console in a new tab and pastes `token` into the form, as a person would. */
export async function signIn(context: BrowserContext, base: string, token: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => {
    throw error;
  });
  await page.goto(`${base}/_fig/console`);
  await page.getByLabel("Bearer token (role viewer or admin)").fill(token);
  await page.getByRole("button", { name: "Open the console" }).click();
  await page.locator("body[data-state='signed-in']").waitFor();
  await page.locator("#section-map table.routes").waitFor();
  return page;
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export const removeScreenshots = () => rmSync(SCREENSHOTS, { recursive: true, force: true });
