/**
 * The fixed upstream every proxy in bench/gateway.ts stands in front of (run as its own process):
 * GET (any path) answers the same ~1 KB JSON document; any other method drains the request body, discards it
 * and answers `{"bytes": <count>}`, so an upload's bytes can be checked without storing them.
 *
 *   PORT=9000 bun bench/lib/upstream.ts
 */

/** The GET body: 1,024 bytes of JSON, the size of a typical small API answer. */
export function upstreamBody(): string {
  const items = Array.from({ length: 12 }, (_, i) => ({
    code: String(100 + i).padStart(5, "0"),
    label: `Consultation n° ${i}`,
    cents: 1000 + i,
  }));
  const doc = { items, total: items.length, note: "" };
  const base = JSON.stringify(doc).length;
  doc.note = "x".repeat(Math.max(0, 1024 - base));
  return JSON.stringify(doc);
}

if (import.meta.main) {
  const body = upstreamBody();
  const server = Bun.serve({
    port: Number(process.env.PORT),
    hostname: "127.0.0.1",
    maxRequestBodySize: 4 * 1024 ** 3, // the 200 MB upload (Bun's default cap is 128 MiB)
    idleTimeout: 120,
    async fetch(request) {
      if (request.method === "GET" || request.method === "HEAD")
        return new Response(body, { headers: { "content-type": "application/json" } });
      let bytes = 0;
      if (request.body) for await (const chunk of request.body) bytes += chunk.byteLength;
      return Response.json({ bytes });
    },
  });
  console.log(JSON.stringify({ msg: "listening", port: server.port }));
}
