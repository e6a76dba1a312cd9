import { describe, expect, test } from "bun:test";
import {
  clientResponse,
  clientResponseHeaders,
  rewriteForwardedHeaders,
  rewriteRequestHeaders,
  upstreamRequestHeaders,
} from "../../src/proxy/headers.ts";

const info = {
  requestId: "req-1",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  clientIp: "198.51.100.7",
  proto: "http",
  host: "gateway.example",
};

// Requests as clients send them: plain, with hop-by-hop fields and ones the Connection header names, with
// x-fig-* fields, an earlier X-Forwarded-For, and a Connection header naming X-Forwarded-For itself.
const requests: Record<string, string>[] = [
  { authorization: "Bearer t", host: "gateway.example", "user-agent": "wrk" },
  {
    host: "gateway.example",
    connection: "keep-alive, X-Drop-Me ,te",
    "keep-alive": "timeout=5",
    te: "trailers",
    "x-drop-me": "1",
    "x-keep": "2",
    "transfer-encoding": "chunked",
    upgrade: "h2c",
    "proxy-authorization": "Basic x",
  },
  { "x-fig-tenant": "other", "x-fig-route": "validation", "x-forwarded-for": "203.0.113.9", accept: "*/*" },
  { connection: "x-forwarded-for", "x-forwarded-for": "203.0.113.9", "x-request-id": "client's" },
  { connection: "", "x-fig-a": "1", "X-Fig-B": "2", cookie: "a=1" },
  {},
];

describe("forwarding headers", () => {
  test("rewritten in place: the same fields as the copying rewrite, for every request shape", () => {
    // The runtime's Headers.toJSON (Bun) walks the names; without it, the standard keys() iterator does.
    const withoutToJSON = (fields: Record<string, string>) => {
      const headers = new Headers(fields);
      Object.defineProperty(headers, "toJSON", { value: undefined });
      return headers;
    };
    expect(typeof (new Headers() as Headers & { toJSON?: unknown }).toJSON).toBe("function");
    for (const info2 of [info, { ...info, clientIp: undefined, traceparent: undefined, host: undefined }])
      for (const fields of requests) {
        const copied = Object.fromEntries(upstreamRequestHeaders(new Headers(fields), info2));
        const iterated = Object.fromEntries(rewriteRequestHeaders(withoutToJSON(fields), info2));
        expect({ fields, headers: iterated }).toEqual({ fields, headers: copied });
      }
    // The proxy's form: X-Forwarded-Host from the request's own Host, read by either walk of the names.
    for (const make of [(f: Record<string, string>) => new Headers(f), withoutToJSON])
      for (const fields of requests) {
        const host = new Headers(fields).get("host") ?? undefined;
        const copied = Object.fromEntries(upstreamRequestHeaders(new Headers(fields), { ...info, host }));
        const { requestId, traceparent, clientIp, proto } = info;
        const forwarded = Object.fromEntries(
          rewriteForwardedHeaders(make(fields), requestId, traceparent, clientIp, proto),
        );
        expect({ fields, headers: forwarded }).toEqual({ fields, headers: copied });
      }
    for (const fields of requests) {
      const copied = Object.fromEntries(upstreamRequestHeaders(new Headers(fields), info));
      const inPlace = Object.fromEntries(rewriteRequestHeaders(new Headers(fields), info));
      expect({ fields, headers: inPlace }).toEqual({ fields, headers: copied });
      expect(inPlace["x-request-id"]).toBe("req-1");
      expect(inPlace.host).toBeUndefined();
    }
    const got = Object.fromEntries(rewriteRequestHeaders(new Headers(requests[1]), info));
    expect(got["x-drop-me"]).toBeUndefined();
    expect(got["keep-alive"]).toBeUndefined();
    expect(got["x-keep"]).toBe("2");
    expect(Object.fromEntries(rewriteRequestHeaders(new Headers(requests[2]), info))["x-forwarded-for"]).toBe(
      "203.0.113.9, 198.51.100.7",
    );
  });

  test("the client's answer: hop-by-hop fields and those its Connection header names removed, the rest kept", () => {
    const upstream = () =>
      new Response("ok", {
        headers: {
          "content-type": "text/plain",
          connection: "close, X-Upstream-Private",
          "keep-alive": "timeout=5",
          "x-upstream-private": "1",
          trailer: "x-sum",
          etag: '"abc"',
        },
      });
    const answer = clientResponse(upstream(), { "fig-served-by": "monolith" });
    const expected = Object.fromEntries(clientResponseHeaders(upstream().headers));
    expect(Object.fromEntries(answer.headers)).toEqual({ ...expected, "fig-served-by": "monolith" });
    expect(Object.fromEntries(answer.headers)).toEqual({
      "content-type": "text/plain",
      etag: '"abc"',
      "fig-served-by": "monolith",
    });
    const plain = clientResponse(new Response("ok", { headers: { "content-type": "text/plain" } }), {});
    expect(Object.fromEntries(plain.headers)).toEqual({ "content-type": "text/plain" });
  });
});
