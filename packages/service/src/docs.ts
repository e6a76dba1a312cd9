import { fileURLToPath } from "node:url";
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import { etag, RETAINED_304_HEADERS } from "hono/etag";
// @ts-expect-error TS7016: a browser bundle read as a file path (Bun's `type: "file"`), never executed here.
// The package's `exports` hide dist/, hence the path through node_modules (isolated installs link it here).
import scalarBundleRef from "../node_modules/@scalar/api-reference/dist/browser/standalone.js" with {
  type: "file",
};

type Bundle = { bytes: Uint8Array<ArrayBuffer>; version: string; etag: string };

// In a `bun run build` bundle the import is a path relative to the bundle file (Bun copies the asset
// beside it); from sources it is absolute. Either way, resolve it against this module's URL, not the cwd.
const bundlePath = fileURLToPath(new URL(scalarBundleRef as string, import.meta.url));

let bundle: Promise<Bundle> | undefined;
let gzipped: Uint8Array<ArrayBuffer> | undefined;

/** The Scalar browser bundle (~5 MB), read once on the first visit to /docs, not at start-up. */
function scalarBundle(): Promise<Bundle> {
  bundle ??= Bun.file(bundlePath)
    .bytes()
    .then((bytes) => {
      const version = Bun.hash(bytes).toString(36);
      return { bytes, version, etag: `"${version}"` };
    });
  return bundle;
}

/**
 * The page's policy: nothing but this origin, and inline code only with the per-response nonce.
 * Styles allow 'unsafe-inline' because Scalar sets `style` attributes from script (Vue bindings).
 */
function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

const acceptsGzip = (header: string | undefined) =>
  header !== undefined && /(^|[,\s])gzip(?!\s*;\s*q=0(\.0+)?\s*(,|$))/i.test(header);

export type DocsOptions = { title: string; specUrl?: string; basePath?: string };

/**
 * `/docs`: the Scalar API reference, served entirely by the service (no CDN), so it renders offline
 * and under a strict CSP. `/docs/scalar.js?v=<hash>` is immutable for a year; the page revalidates.
 *
 * @example
 * app.route("/docs", docsRoutes({ title: "Fig reference-data API" }));
 */
export function docsRoutes({ title, specUrl = "/openapi.json", basePath = "/docs" }: DocsOptions) {
  const docs = new Hono();
  // A 304 keeps only the cache headers by default; the request id must survive it like any response.
  docs.use("/scalar.js", etag({ retainedHeaders: [...RETAINED_304_HEADERS, "x-request-id"] }));

  docs.get("/", async (c, next) => {
    const { version } = await scalarBundle();
    const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    c.header("Content-Security-Policy", contentSecurityPolicy(nonce));
    c.header("Cache-Control", "no-store"); // a nonce must never be served twice
    const render = Scalar({
      url: specUrl,
      pageTitle: title,
      cdn: `${basePath}/scalar.js?v=${version}`,
      nonce,
      withDefaultFonts: false, // the default fonts come from fonts.scalar.com
      telemetry: false,
    });
    return render(c, next);
  });

  docs.get("/scalar.js", async (c) => {
    const current = await scalarBundle();
    const gzip = acceptsGzip(c.req.header("accept-encoding"));
    // Once per process (~70 ms for 4.8 MB → 1.4 MB), on the first browser that asks for it.
    if (gzip) gzipped ??= Bun.gzipSync(current.bytes);
    const body = gzip && gzipped ? gzipped : current.bytes;
    return c.body(body, 200, {
      "Content-Type": "text/javascript; charset=utf-8",
      // The versioned URL the page links to never changes content; any other URL must revalidate.
      "Cache-Control":
        c.req.query("v") === current.version ? "public, max-age=31536000, immutable" : "no-cache",
      ETag: gzip ? `"${current.version}-gzip"` : current.etag,
      Vary: "Accept-Encoding",
      ...(gzip ? { "Content-Encoding": "gzip" } : {}),
      "X-Content-Type-Options": "nosniff",
    });
  });

  return docs;
}
