import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Where the flows save their screenshots (gitignored), one PNG per page and state, for people to look at. */
export const SCREENSHOTS = join(import.meta.dir, "__screenshots__");
/** Every screenshot is taken at this size (fullPage may make it taller, never narrower). */
export const VIEWPORT = { width: 1366, height: 800 };

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
  const profile = mkdtempSync(join(tmpdir(), "fig-console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: VIEWPORT,
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
  await page.getByLabel("Bearer token of an operator (role operator in the operator tenant)").fill(token);
  await page.getByRole("button", { name: "Open the console" }).click();
  await page.locator("body[data-state='signed-in']").waitFor();
  await page.locator("#section-map table.routes").waitFor();
  return page;
}

/** What a PNG file says about itself: its IHDR dimensions, and when it was written. */
export type PngFile = { path: string; width: number; height: number; bytes: number; mtimeMs: number };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Reads a PNG's signature and IHDR chunk (RFC 2083 §3.1, §4.1.1); throws on anything else. */
export async function readPng(path: string): Promise<PngFile> {
  const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b))
    throw new Error(`${path} is not a PNG`);
  if (new TextDecoder().decode(bytes.subarray(12, 16)) !== "IHDR")
    throw new Error(`${path} has no IHDR first`);
  const { mtimeMs } = statSync(path);
  return { path, width: view.getUint32(16), height: view.getUint32(20), bytes: bytes.length, mtimeMs };
}

/**
 * A test file's own screenshot folder, emptied when the file starts, so a PNG found there was written by this
 * run and not left by an earlier one. `taken` lists what this run wrote, in order.
 */
export function screenshotFolder(name: string) {
  const dir = join(SCREENSHOTS, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const startedAt = Date.now();
  const taken: string[] = [];
  return {
    dir,
    startedAt,
    taken,
    /** Saves the whole page as `<name>.png` in this run's folder. */
    async take(page: Page, file: string) {
      const path = join(dir, `${file}.png`);
      await page.screenshot({ path, fullPage: true });
      taken.push(path);
      return path;
    },
  };
}
