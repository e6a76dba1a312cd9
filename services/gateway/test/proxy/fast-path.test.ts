import { describe, expect, test } from "bun:test";
import { createLogger, idOnlyTracer, rawLineWriter } from "@fig/service";
import type { Span, SpanContext, Tracer } from "@opentelemetry/api";
import type { UpstreamRequest } from "../../src/policies/types.ts";
import { bearer, nameSend, testGateway } from "../harness.ts";

type LogLine = Record<string, unknown> & { msg: string };

/** A gateway over the in-process `send`, info-level, whose log lines land in `lines`. */
function gateway(perMinute = 1_000_000) {
  const lines: LogLine[] = [];
  const logger = createLogger({
    service: "gateway-test",
    level: "info",
    destination: { write: (chunk: string) => void lines.push(JSON.parse(chunk) as LogLine) },
  });
  return { ...testGateway({ logger, send: nameSend, perMinute }), lines };
}

// The same request twice: once on the fast path, once through Hono's chain (a percent-escape in the path,
// which Hono decodes, always goes to the chain: %30 is "0").
const FAST = "http://gw.test/api/codes/00103?x=1";
const CHAIN = "http://gw.test/api/codes/%30%30103?x=1";

/** What an answer shows a client, less what differs by design (the request id's value). */
async function shape(response: Response) {
  const headers = Object.fromEntries(response.headers);
  expect(headers["x-request-id"]).toMatch(/^[\w-]+$/);
  headers["x-request-id"] = "<id>";
  // nameSend echoes the path the upstream got: the client's own bytes (escaped or not).
  const { path: _path, ...body } = (await response.json()) as Record<string, unknown>;
  return { status: response.status, headers, body };
}

/** The access line's fields, less the per-request values. */
function accessLine(lines: LogLine[], requestId: string) {
  const line = lines.find((l) => l.request_id === requestId && l.msg !== "unhandled error");
  expect(line).toBeDefined();
  const { time: _t, duration_ms, ...rest } = line as LogLine;
  expect(typeof duration_ms).toBe("number");
  return rest;
}

describe("the proxy's fast path answers as the Hono chain does", () => {
  test("a proxied GET: the same answer, access line (route, upstream, request id) and metrics", async () => {
    const g = gateway();
    const headers = await bearer({ sub: "fast-1", roles: ["viewer"] });
    const fast = await g.app.request(FAST, { headers: { ...headers, "x-request-id": "fast-1" } });
    const chain = await g.app.request(CHAIN, { headers: { ...headers, "x-request-id": "chain-1" } });
    const a = await shape(fast);
    const b = await shape(chain);
    expect(a.status).toBe(200);
    expect(a.headers["fig-served-by"]).toBe("monolith");
    // The rate limit's remaining count moved by the first request: the rest of the answer is the same.
    delete a.headers["ratelimit-remaining"];
    delete b.headers["ratelimit-remaining"];
    expect(a).toEqual(b);
    expect(fast.headers.get("x-request-id")).toBe("fast-1");
    const fastLine = accessLine(g.lines, "fast-1");
    const chainLine = accessLine(g.lines, "chain-1");
    expect(fastLine).toMatchObject({
      msg: "request",
      route_id: "reference-data",
      upstream: "monolith",
      method: "GET",
      path: "/api/codes/00103",
      route: "/api/*",
      status: 200,
    });
    // The chain's routePatternOf calls a route registered with app.all "unmatched" (it cannot tell it from
    // middleware); the fast path names the proxied pattern. Every other field is the same.
    expect(chainLine.route).toBe("unmatched");
    // A trace id is each request's own, and only there when a tracer provider is registered (another test file
    // in the same process may have registered one): both lines have one, or neither has.
    expect(typeof fastLine.trace_id).toBe(typeof chainLine.trace_id);
    expect({ ...fastLine, request_id: "<id>", route: "-", trace_id: "<trace>" }).toEqual({
      ...chainLine,
      request_id: "<id>",
      route: "-",
      trace_id: "<trace>",
    });
    expect(Object.keys(fastLine)).toEqual(Object.keys(chainLine));
    const metrics = await (await g.app.request("http://gw.test/metrics")).text();
    expect(metrics).toContain('http_requests_total{method="GET",route="/api/*",status="200"} 1');
    expect(metrics).toContain('http_requests_total{method="GET",route="unmatched",status="200"} 1');
    expect(metrics).toContain(
      'gateway_upstream_requests_total{route="reference-data",upstream="monolith",method="GET",status="200"} 2',
    );
  });

  test("the access line written from its template is byte for byte pino's line of the same fields", async () => {
    // The same gateway twice: createLogger's logger (the template applies) and one whose no-op streamWrite
    // hook makes the fast path hand pino the line's object, as it did before the template.
    const templated: string[] = [];
    const viaPino: string[] = [];
    const plain = createLogger({
      service: "gateway-test",
      destination: { write: (l: string) => void viaPino.push(l) },
    });
    // pino reads its hooks (Symbol.for("pino.hooks")) on every line: an identity streamWrite changes no byte.
    const hooks = Symbol.for("pino.hooks");
    const internals = plain as unknown as Record<symbol, object>;
    internals[hooks] = { ...internals[hooks], streamWrite: (l: string) => l };
    const loggers = [
      createLogger({
        service: "gateway-test",
        destination: { write: (l: string) => void templated.push(l) },
      }),
      plain,
    ];
    expect(rawLineWriter(loggers[0] as never)).toBeDefined();
    expect(rawLineWriter(plain)).toBeUndefined();
    const headers = await bearer({ sub: "fast-bytes", roles: ["viewer"] });
    for (const logger of loggers) {
      const g = testGateway({ logger, send: nameSend });
      for (const [id, url] of [
        ["bytes-1", FAST],
        ["bytes-2", "http://gw.test/api/validations/a-b_c.d~e!$&'()*+,;=:@?q=%22"],
        ["bytes-3", "http://gw.test/oauth/token"],
      ] as const)
        await g.app.request(url, { headers: { ...headers, "x-request-id": id } });
      // An error line: an upstream answering 500.
      const failing = testGateway({ logger, send: async () => new Response("no", { status: 500 }) });
      await failing.app.request(FAST, { headers: { ...headers, "x-request-id": "bytes-4" } });
    }
    // The time, the duration and the trace id are the request's own; every other byte must be the same.
    const norm = (lines: string[]) =>
      lines
        .filter((l) => l.includes('"msg":"request'))
        .map((l) =>
          l
            .replace(/"time":"[^"]*"/, "")
            .replace(/"duration_ms":[\d.e-]+/, "")
            // Each request's own trace id, when a tracer provider is registered in this process.
            .replace(/"trace_id":"[0-9a-f]{32}"/, '"trace_id":"<trace>"'),
        );
    expect(norm(templated).length).toBe(4);
    expect(norm(templated)).toEqual(norm(viaPino));
  });

  test("refusals: no token, a bad token, a wrong role: the chain's problem and headers", async () => {
    const g = gateway();
    const editorOnly = "http://gw.test/api/validation/runs";
    const cases: [string, Record<string, string>, string][] = [
      ["no token", {}, FAST],
      ["bad token", { authorization: "Bearer not.a.jwt" }, FAST],
      ["wrong scheme", { authorization: "Basic abc" }, FAST],
    ];
    for (const [what, headers, url] of cases) {
      const fast = await shape(await g.app.request(url, { headers }));
      const chain = await shape(await g.app.request(url.replace("00103", "%30%30103"), { headers }));
      expect({ what, status: fast.status }).toEqual({ what, status: 401 });
      const strip = (s: Awaited<ReturnType<typeof shape>>) => ({
        ...s,
        headers: { ...s.headers, "ratelimit-remaining": "-", "ratelimit-reset": "-" },
        body: { ...s.body, instance: "-" },
      });
      expect(strip(fast)).toEqual(strip(chain));
    }
    // The first request verifies the token (admission is a promise); the next ones find it verified (no
    // promise: the refusal is thrown at once). The same problem and fields each time, on both paths.
    const viewer = await bearer({ sub: "viewer-1", roles: ["viewer"] });
    const refusals = [];
    for (const url of [editorOnly, editorOnly, `${editorOnly}/%61`, editorOnly]) {
      const post = await g.app.request(url, { method: "POST", headers: viewer, body: "{}" });
      expect(post.status).toBe(403);
      expect(post.headers.get("ratelimit-limit")).toBe("1000000");
      expect(post.headers.get("x-request-id")).toBeTruthy();
      const { headers, body } = await shape(post);
      refusals.push({
        headers: { ...headers, "ratelimit-remaining": "-", "ratelimit-reset": "-" },
        body: { ...body, instance: "-", detail: "-" },
      });
    }
    for (const refusal of refusals.slice(1)) expect(refusal).toEqual(refusals[0] as never);
  });

  test("the rate limit counts a request once on either path", async () => {
    const g = gateway(2);
    const limited = await bearer({ sub: "limited-1", roles: ["viewer"] });
    expect((await g.app.request(FAST, { headers: limited })).status).toBe(200);
    expect((await g.app.request(CHAIN, { headers: limited })).status).toBe(200);
    const third = await g.app.request(FAST, { headers: limited });
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBeTruthy();
    expect(((await third.json()) as { type: string }).type).toEndWith("rate_limited");
  });

  test("what it leaves to Hono: HEAD, the gateway's own paths, /api itself", async () => {
    const g = gateway();
    const headers = await bearer({ sub: "fast-3", roles: ["viewer"] });
    const head = await g.app.request(FAST, { method: "HEAD", headers });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect((await g.app.request("http://gw.test/health")).status).toBe(200);
    expect((await g.app.request("http://gw.test/_fig/routes", { headers })).status).toBe(403);
    expect((await g.app.request("http://gw.test/api", { headers })).headers.get("fig-served-by")).toBe(
      "monolith",
    );
  });

  test("a recording tracer gets the server span named and attributed as the chain names it", async () => {
    type Recorded = { name: string; attributes: Record<string, unknown>; ended: boolean };
    const spans: Recorded[] = [];
    const context: SpanContext = { traceId: "a".repeat(32), spanId: "b".repeat(16), traceFlags: 1 };
    const tracer = {
      startSpan(name: string) {
        const recorded: Recorded = { name, attributes: {}, ended: false };
        spans.push(recorded);
        const span = {
          isRecording: () => true,
          spanContext: () => context,
          updateName(next: string) {
            recorded.name = next;
            return span;
          },
          setAttributes(attributes: Record<string, unknown>) {
            Object.assign(recorded.attributes, attributes);
            return span;
          },
          setStatus: () => span,
          end() {
            recorded.ended = true;
          },
        };
        return span as unknown as Span;
      },
    } as unknown as Tracer;
    const g = testGateway({ send: nameSend, tracer });
    const res = await g.app.request(FAST, { headers: await bearer({ roles: ["viewer"] }) });
    expect(res.status).toBe(200);
    expect(spans).toEqual([
      {
        name: "GET /api/*",
        attributes: { "http.route": "/api/*", "http.response.status_code": 200 },
        ended: true,
      },
    ]);
  });

  test("an id-only tracer (no exporter): the traceparent sent upstream is the access line's trace, on both paths", async () => {
    // The fast path keeps the server span as its traceparent string; the chain makes the span object.
    const sent: string[] = [];
    const send = async (upstream: string, request: UpstreamRequest) => {
      sent.push(request.headers.get("traceparent") ?? "none");
      return nameSend(upstream, request);
    };
    const lines: LogLine[] = [];
    const logger = createLogger({
      service: "gateway-test",
      destination: { write: (chunk: string) => void lines.push(JSON.parse(chunk) as LogLine) },
    });
    const g = testGateway({ logger, send, tracer: idOnlyTracer() });
    const headers = await bearer({ sub: "fast-trace", roles: ["viewer"] });
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const requests = [
      ["trace-fast", FAST, undefined],
      ["trace-chain", CHAIN, undefined],
      ["trace-fast-continued", FAST, `00-${traceId}-b7ad6b7169203331-01`],
      ["trace-chain-continued", CHAIN, `00-${traceId}-b7ad6b7169203331-01`],
      ["trace-fast-unsampled", FAST, `00-${traceId}-b7ad6b7169203331-00`],
      ["trace-chain-unsampled", CHAIN, `00-${traceId}-b7ad6b7169203331-00`],
      // Not a valid parent (an all-zero trace id): a fresh trace on both paths.
      ["trace-fast-invalid", FAST, `00-${"0".repeat(32)}-b7ad6b7169203331-01`],
      ["trace-chain-invalid", CHAIN, `00-${"0".repeat(32)}-b7ad6b7169203331-01`],
    ] as const;
    for (const [id, url, traceparent] of requests) {
      const res = await g.app.request(url, {
        headers: { ...headers, "x-request-id": id, ...(traceparent ? { traceparent } : {}) },
      });
      expect(res.status).toBe(200);
    }
    expect(sent.length).toBe(requests.length);
    requests.forEach(([id, , incoming], i) => {
      const out = sent[i] as string;
      expect(out).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      const [, trace, span, flags] = out.split("-");
      expect(accessLine(lines, id).trace_id).toBe(trace);
      if (incoming === undefined || id.endsWith("invalid")) {
        expect(trace).not.toBe(traceId);
        expect(flags).toBe("01");
      } else {
        expect(trace).toBe(traceId);
        expect(span).not.toBe("b7ad6b7169203331");
        expect(flags).toBe(incoming.slice(-2));
      }
    });
    // Each request without a parent has its own trace; the span ids are all different.
    expect(new Set(sent.map((t) => t.split("-")[2])).size).toBe(sent.length);
    expect(sent[0]?.split("-")[1]).not.toBe(sent[1]?.split("-")[1]);
  });
});
