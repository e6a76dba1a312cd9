import { describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { createApp, createLogger } from "../src/index.ts";

const app = createApp({
  name: "docs",
  version: "0.0.0",
  logger: createLogger({ service: "t", level: "silent" }),
});

async function docsPage() {
  const res = await app.request("/docs");
  const html = await res.text();
  const script = html.match(/<script src="([^"]+)"/)?.[1];
  return { res, html, script };
}

describe("/docs without a CDN", () => {
  test("the page names no other origin and loads Scalar from this service", async () => {
    const { res, html, script } = await docsPage();
    expect(res.status).toBe(200);
    expect(html).not.toMatch(/https?:\/\//);
    expect(script).toMatch(/^\/docs\/scalar\.js\?v=\w+$/);
    expect(html).toContain('"url": "/openapi.json"');
  });

  test("a strict policy whose nonce is the one on every script, fresh per response", async () => {
    const first = await docsPage();
    const csp = first.res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe-eval");
    const nonce = csp.match(/'nonce-([^']+)'/)?.[1];
    expect(nonce).toBeDefined();
    const scripts = [...first.html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
    expect(first.res.headers.get("cache-control")).toBe("no-store");

    const second = await docsPage();
    expect(second.res.headers.get("content-security-policy")).not.toBe(csp);
  });

  test("scalar.js: immutable under its versioned URL, revalidated elsewhere, 304 on a matching ETag", async () => {
    const { script } = await docsPage();
    const res = await app.request(script as string);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const body = await res.text();
    expect(body.length).toBeGreaterThan(1_000_000);
    expect(body).toContain("createApiReference");

    const etag = res.headers.get("etag") as string;
    expect(etag).toMatch(/^"\w+"$/);
    const again = await app.request(script as string, {
      headers: { "if-none-match": etag, "x-request-id": "revalidate-1" },
    });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    expect(again.headers.get("x-request-id")).toBe("revalidate-1");
    expect(again.headers.get("etag")).toBe(etag);
    expect(again.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");

    const unversioned = await app.request("/docs/scalar.js?v=stale");
    expect(unversioned.headers.get("cache-control")).toBe("no-cache");
  });

  test("scalar.js is gzipped for browsers that accept it, and decodes to the same bytes", async () => {
    const { script } = await docsPage();
    const plain = new Uint8Array(await (await app.request(script as string)).arrayBuffer());
    const res = await app.request(script as string, { headers: { "accept-encoding": "gzip, deflate, br" } });
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(res.headers.get("vary")).toBe("Accept-Encoding");
    expect(res.headers.get("etag")).not.toBe((await app.request(script as string)).headers.get("etag"));
    const zipped = new Uint8Array(await res.arrayBuffer());
    expect(zipped.length).toBeLessThan(plain.length / 2);
    expect(Buffer.from(gunzipSync(zipped)).equals(Buffer.from(plain))).toBe(true);

    const refused = await app.request(script as string, { headers: { "accept-encoding": "gzip;q=0, br" } });
    expect(refused.headers.get("content-encoding")).toBeNull();
  });
});
