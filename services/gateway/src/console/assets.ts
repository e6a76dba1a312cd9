import { fileURLToPath } from "node:url";
import type { Context } from "hono";
// @ts-expect-error TS7016: browser files read as file paths (Bun's `type: "file"`: `bun run build` copies them
// beside the bundle), never executed here. uPlot has no `exports`, so the path goes through node_modules.
import uplotJs from "../../node_modules/uplot/dist/uPlot.iife.min.js" with { type: "file" };
// @ts-expect-error TS7016: as above.
import uplotCss from "../../node_modules/uplot/dist/uPlot.min.css" with { type: "file" };
// @ts-expect-error TS7016: as above.
import consoleCss from "./client/console.css" with { type: "file" };
// @ts-expect-error TS7016: as above (the console's own client script, plain browser JavaScript).
import consoleJs from "./client/console.js" with { type: "file" };

type Asset = {
  bytes: Uint8Array<ArrayBuffer>;
  gzipped: Uint8Array<ArrayBuffer>;
  version: string;
  type: string;
};

const FILES = {
  "uplot.js": { ref: uplotJs as string, type: "text/javascript; charset=utf-8" },
  "uplot.css": { ref: uplotCss as string, type: "text/css; charset=utf-8" },
  "console.js": { ref: consoleJs as string, type: "text/javascript; charset=utf-8" },
  "console.css": { ref: consoleCss as string, type: "text/css; charset=utf-8" },
} as const;
export type AssetName = keyof typeof FILES;
export const ASSET_NAMES = Object.keys(FILES) as AssetName[];

const loaded = new Map<AssetName, Promise<Asset>>();

/** One asset, read and gzipped once. In a bundle the import is relative to the bundle file, hence the URL. */
export function asset(name: AssetName): Promise<Asset> {
  let hit = loaded.get(name);
  if (!hit) {
    const { ref, type } = FILES[name];
    hit = Bun.file(fileURLToPath(new URL(ref, import.meta.url)))
      .bytes()
      .then((bytes) => ({
        bytes,
        gzipped: Bun.gzipSync(bytes),
        version: Bun.hash(bytes).toString(36),
        type,
      }));
    loaded.set(name, hit);
  }
  return hit;
}

/** Versions for the page's links (`?v=<hash>`): immutable URLs, so a new build is never served stale. */
export async function assetVersions(): Promise<Record<AssetName, string>> {
  const entries = await Promise.all(ASSET_NAMES.map(async (n) => [n, (await asset(n)).version] as const));
  return Object.fromEntries(entries) as Record<AssetName, string>;
}

const acceptsGzip = (header: string | undefined) =>
  header !== undefined && /(^|[,\s])gzip(?!\s*;\s*q=0(\.0+)?\s*(,|$))/i.test(header);

/** Serves an asset with an ETag (304 on If-None-Match) and a year of caching for the versioned URL. */
export async function serveAsset(c: Context, name: AssetName): Promise<Response> {
  const a = await asset(name);
  const gzip = acceptsGzip(c.req.header("accept-encoding"));
  const etag = `"${a.version}${gzip ? "-gzip" : ""}"`;
  const headers: Record<string, string> = {
    "Content-Type": a.type,
    "Cache-Control": c.req.query("v") === a.version ? "public, max-age=31536000, immutable" : "no-cache",
    ETag: etag,
    Vary: "Accept-Encoding",
    "X-Content-Type-Options": "nosniff",
  };
  const match = c.req.header("if-none-match");
  if (match?.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)) return c.body(null, 304, headers);
  if (gzip) headers["Content-Encoding"] = "gzip";
  return c.body(gzip ? a.gzipped : a.bytes, 200, headers);
}
