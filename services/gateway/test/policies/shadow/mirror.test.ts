import { afterAll, describe, expect, test } from "bun:test";
import { compileIgnore, diffJson, generalize } from "../../../src/policies/shadow/diff.ts";
import { createShadow } from "../../../src/policies/shadow/mirror.ts";
import { ShadowReportSchema } from "../../../src/policies/shadow/report.ts";
import { closedPortUrl, sendTo, startUpstream } from "../upstream.ts";

const primary = startUpstream();
const candidate = startUpstream();
afterAll(async () => {
  await primary.stop();
  await candidate.stop();
});
const send = sendTo({ monolith: primary.url, validation: candidate.url });

/** Fetches the primary as the proxy would and hands its response to the shadow. */
async function serve(
  shadow: ReturnType<typeof createShadow>,
  path: string,
  options: Partial<MirrorArgs> = {},
) {
  const request = new Request(`http://gateway${path}`, { headers: { "x-request-id": "req-1" } });
  const response = await send("monolith", request, new AbortController().signal);
  return shadow.maybeMirror({
    routeId: "validation",
    percent: 100,
    candidate: "validation",
    primary: "monolith",
    request,
    response,
    ignorePaths: ["id", "createdAt"],
    ...options,
  });
}
type MirrorArgs = Parameters<ReturnType<typeof createShadow>["maybeMirror"]>[0];

const route = (shadow: ReturnType<typeof createShadow>) => {
  const report = ShadowReportSchema.parse(shadow.snapshot());
  const found = report.routes.find((r) => r.route === "validation");
  if (!found) throw new Error("no report for the route");
  return found;
};

describe("shadow traffic", () => {
  test("never alters the response, and the client does not wait for the candidate", async () => {
    const body = { id: 7, items: Array.from({ length: 500 }, (_, i) => ({ n: i, label: `item ${i}` })) };
    primary.handle(() => Response.json(body, { headers: { "x-custom": "kept", etag: '"v1"' } }));
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    candidate.handle(async () => {
      await held;
      return Response.json({ ...body, id: 8 });
    });
    const shadow = createShadow({ fetch: send, noiseShare: 0 });
    const direct = await fetch(`${primary.url}/api/files`);
    const directText = await direct.text();

    const response = await serve(shadow, "/api/files");
    // The candidate is still held: the client's response is complete all the same.
    expect(response.status).toBe(direct.status);
    expect(response.headers.get("x-custom")).toBe("kept");
    expect(response.headers.get("etag")).toBe('"v1"');
    expect(response.headers.get("content-type")).toBe(direct.headers.get("content-type"));
    expect(await response.text()).toBe(directText);
    expect(route(shadow)).toMatchObject({ mirrored: 1, compared: 0 });

    release();
    await shadow.drained();
    // Only `id` differed, and it is ignored.
    expect(route(shadow)).toMatchObject({ mirrored: 1, compared: 1, matches: 1, mismatches: 0 });
    expect(candidate.hits.at(-1)?.headers.get("x-fig-shadow")).toBe("1");
  });

  test("counts mismatches and keeps a sample of the differing fields", async () => {
    primary.handle(() =>
      Response.json({ id: "a", createdAt: "t1", total_cents: 1200, lines: [{ code: "X" }] }),
    );
    candidate.handle(() =>
      Response.json({ id: "b", createdAt: "t2", total_cents: 1250, lines: [{ code: "Y" }] }),
    );
    const shadow = createShadow({ fetch: send, noiseShare: 0 });
    for (let i = 0; i < 3; i++) await (await serve(shadow, "/api/validations/1?x=1")).text();
    await shadow.drained();
    const report = route(shadow);
    expect(report).toMatchObject({ compared: 3, matches: 0, mismatches: 3, mismatchRate: 1 });
    expect(report.samples).toHaveLength(3);
    expect(report.samples[0]).toMatchObject({
      request: "/api/validations/1?x=1",
      requestId: "req-1",
      primary: "monolith",
      candidate: "validation",
      status: { primary: 200, candidate: 200 },
      fields: [
        { path: "/total_cents", primary: 1200, candidate: 1250 },
        { path: "/lines/0/code", primary: "X", candidate: "Y" },
      ],
    });
  });

  test("a status difference is a mismatch", async () => {
    primary.handle(() => Response.json({ ok: true }));
    candidate.handle(() => Response.json({ ok: true }, { status: 500 }));
    const shadow = createShadow({ fetch: send, noiseShare: 0 });
    await (await serve(shadow, "/api/files")).text();
    await shadow.drained();
    const report = route(shadow);
    expect(report.mismatches).toBe(1);
    expect(report.samples[0]?.fields).toEqual([{ path: ":status", primary: 200, candidate: 500 }]);
  });

  test("the noise baseline removes a field that changes on every call", async () => {
    let calls = 0;
    primary.handle(() =>
      Response.json({ code: "A", generatedAt: `primary-${++calls}`, items: [{ nonce: calls }] }),
    );
    candidate.handle(() =>
      Response.json({ code: "A", generatedAt: `candidate-${Math.random()}`, items: [{ nonce: -1 }] }),
    );

    // Without the baseline, every comparison is a mismatch on the changing fields.
    const plain = createShadow({ fetch: send, noiseShare: 0 });
    for (let i = 0; i < 5; i++) await (await serve(plain, "/api/files")).text();
    await plain.drained();
    expect(route(plain)).toMatchObject({ compared: 5, mismatches: 5, noiseOnly: 0 });

    // One noise sample (the primary asked twice) is enough to learn both fields, retroactively too.
    let draws = 0;
    const baseline = createShadow({
      fetch: send,
      noiseShare: 0.5,
      random: () => (++draws === 10 ? 0 : 0.99),
    });
    for (let i = 0; i < 5; i++) await (await serve(baseline, "/api/files")).text();
    await baseline.drained();
    const report = route(baseline);
    expect(report).toMatchObject({ compared: 5, mismatches: 0, noiseOnly: 5, mismatchRate: 0 });
    expect(report.noise.samples).toBe(1);
    expect(report.noise.fields.map((f) => f.path).sort()).toEqual(["/generatedAt", "/items/*/nonce"]);
    expect(report.samples).toEqual([]);

    // A real difference still shows, beside the noise.
    candidate.handle(() => Response.json({ code: "B", generatedAt: "x", items: [{ nonce: 0 }] }));
    await (await serve(baseline, "/api/files")).text();
    await baseline.drained();
    const after = route(baseline);
    expect(after.mismatches).toBe(1);
    expect(after.samples.at(-1)?.fields).toEqual([{ path: "/code", primary: "A", candidate: "B" }]);
  });

  test("the queue is bounded: beyond it GETs are not mirrored, drops are counted, responses unchanged", async () => {
    primary.handle(() => Response.json({ n: 1 }));
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    candidate.handle(async () => {
      await held;
      return Response.json({ n: 1 });
    });
    const shadow = createShadow({ fetch: send, queueMax: 2, noiseShare: 0 });
    for (let i = 0; i < 5; i++) expect(await (await serve(shadow, "/api/files")).json()).toEqual({ n: 1 });
    expect(route(shadow)).toMatchObject({ mirrored: 2, dropped: 3 });
    expect(shadow.snapshot().queue).toEqual({ max: 2, outstanding: 2 });
    release();
    await shadow.drained();
    expect(route(shadow)).toMatchObject({ compared: 2, matches: 2 });
  });

  test("a body over the cap is not compared (status only) and reaches the client whole", async () => {
    const big = { blob: "x".repeat(4096) };
    primary.handle(() => Response.json(big));
    candidate.handle(() => Response.json({ blob: "different" }));
    const shadow = createShadow({ fetch: send, bodyCapBytes: 1024, noiseShare: 0 });
    expect(await (await serve(shadow, "/api/files")).json()).toEqual(big);
    // A streamed body without content-length: the cap applies while reading the tee.
    primary.handle(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              const text = JSON.stringify(big);
              for (let i = 0; i < text.length; i += 512)
                controller.enqueue(new TextEncoder().encode(text.slice(i, i + 512)));
              controller.close();
            },
          }),
          { headers: { "content-type": "application/json" } },
        ),
    );
    expect(await (await serve(shadow, "/api/files")).json()).toEqual(big);
    await shadow.drained();
    expect(route(shadow)).toMatchObject({
      compared: 2,
      matches: 2,
      bodiesNotCompared: { tooLarge: 2, notJson: 0 },
    });
  });

  test("only GETs are mirrored, at the route's percentage, never to the upstream that served", async () => {
    primary.handle(() => Response.json({ n: 1 }));
    candidate.handle(() => Response.json({ n: 1 }));
    const draws = [0.05, 0.5, 0.09, 0.95];
    const shadow = createShadow({ fetch: send, noiseShare: 0, random: () => draws.shift() ?? 0.99 });
    for (let i = 0; i < 4; i++) await (await serve(shadow, "/api/files", { percent: 10 })).text();
    const request = new Request("http://gateway/api/files", { method: "DELETE" });
    shadow.maybeMirror({
      routeId: "validation",
      percent: 100,
      candidate: "validation",
      primary: "monolith",
      request,
      response: new Response("deleted"),
    });
    await (await serve(shadow, "/api/files", { primary: "validation" })).text();
    await shadow.drained();
    // Draws 0.05 and 0.09 are under 10 %: two mirrored.
    expect(route(shadow)).toMatchObject({ mirrored: 2, compared: 2 });
  });

  test("an encoded primary body (passed through by the proxy) is decoded before comparing", async () => {
    const body = JSON.stringify({ code: "A", total_cents: 5 });
    primary.handle(
      () =>
        new Response(Bun.gzipSync(body), {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        }),
    );
    candidate.handle(() => Response.json({ code: "A", total_cents: 6 }));
    const raw: typeof send = (upstream, request, signal) =>
      fetch(`${upstream === "monolith" ? primary.url : candidate.url}${new URL(request.url).pathname}`, {
        headers: request.headers,
        signal,
        decompress: false,
      } as RequestInit);
    const shadow = createShadow({ fetch: raw, noiseShare: 0 });
    const request = new Request("http://gateway/api/files", { headers: { "accept-encoding": "gzip" } });
    const response = shadow.maybeMirror({
      routeId: "validation",
      percent: 100,
      candidate: "validation",
      primary: "monolith",
      request,
      response: await raw("monolith", request, new AbortController().signal),
    });
    // The client gets the encoded bytes untouched.
    expect(response.headers.get("content-encoding")).toBe("gzip");
    expect(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await response.arrayBuffer())))).toBe(body);
    await shadow.drained();
    expect(route(shadow).samples[0]?.fields).toEqual([{ path: "/total_cents", primary: 5, candidate: 6 }]);
    expect(candidate.hits.at(-1)?.headers.get("accept-encoding")).toBe("identity");
  });

  test("an unreachable candidate is counted, not compared", async () => {
    primary.handle(() => Response.json({ n: 1 }));
    const shadow = createShadow({
      fetch: sendTo({ monolith: primary.url, validation: await closedPortUrl() }),
    });
    expect(await (await serve(shadow, "/api/files")).json()).toEqual({ n: 1 });
    await shadow.drained();
    expect(route(shadow)).toMatchObject({ mirrored: 1, compared: 0, candidateErrors: 1 });
  });
});

describe("JSON diff and ignored paths", () => {
  test("diffJson names fields by JSON pointer", () => {
    expect(diffJson({ a: 1, b: { "x/y": [1, 2] } }, { a: 1, b: { "x/y": [1, 3] }, c: true })).toEqual([
      { path: "/b/x~1y/1", primary: 2, candidate: 3 },
      { path: "/c", primary: undefined, candidate: true },
    ]);
    expect(diffJson([1], { 0: 1 })).toEqual([{ path: "", primary: [1], candidate: { 0: 1 } }]);
    expect(diffJson("a", "a")).toEqual([]);
    expect(generalize("/items/12/id")).toBe("/items/*/id");
  });

  test("ignore patterns: pointers from the root, wildcards, bare names at any depth, subtrees", () => {
    const ignored = compileIgnore(["/meta", "/items/*/id", "createdAt", "audit.by", "/deep/**/etag"]);
    expect(ignored("/meta")).toBe(true);
    expect(ignored("/meta/version")).toBe(true);
    expect(ignored("/items/3/id")).toBe(true);
    expect(ignored("/items/3/name")).toBe(false);
    expect(ignored("/id")).toBe(false);
    expect(ignored("/createdAt")).toBe(true);
    expect(ignored("/runs/0/createdAt")).toBe(true);
    expect(ignored("/x/audit/by")).toBe(true);
    expect(ignored("/deep/etag")).toBe(true);
    expect(ignored("/deep/a/b/etag")).toBe(true);
    expect(ignored(":status")).toBe(false);
    expect(compileIgnore([])("/anything")).toBe(false);
  });
});
