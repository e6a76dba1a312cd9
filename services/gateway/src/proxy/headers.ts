// RFC 9110 §7.6.1: connection-specific fields are not forwarded, nor any field the Connection header names.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function connectionListed(headers: Headers): Set<string> | undefined {
  const value = headers.get("connection");
  return value ? tokensOf(value) : undefined;
}

/** The field names a Connection header's value lists, lower-cased. */
function tokensOf(value: string): Set<string> {
  return new Set(value.split(",").map((token) => token.trim().toLowerCase()));
}

/** Bun's Headers: toJSON() gives every field as one plain object (Set-Cookie as an array). */
type WithToJSON = Headers & { toJSON?: () => Record<string, string | string[]> };

export type ForwardedInfo = {
  requestId: string;
  traceparent: string | undefined;
  clientIp: string | undefined;
  proto: string;
  host: string | undefined;
};

/**
 * The headers sent upstream: the client's, less hop-by-hop fields, `host` (fetch sets the upstream's)
 * and every `x-fig-*` (identity and routing hints are the gateway's to set, never a client's); plus
 * `x-request-id`, `traceparent` and X-Forwarded-For (appended) / -Proto / -Host. `authorization` passes
 * as it came: upstreams verify the token themselves.
 */
export function upstreamRequestHeaders(incoming: Headers, info: ForwardedInfo): Headers {
  const listed = connectionListed(incoming);
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.has(name) || name === "host" || name.startsWith("x-fig-") || listed?.has(name)) continue;
    out.append(name, value);
  }
  out.set("x-request-id", info.requestId);
  if (info.traceparent) out.set("traceparent", info.traceparent);
  if (info.clientIp) {
    const prior = incoming.get("x-forwarded-for");
    out.set("x-forwarded-for", prior ? `${prior}, ${info.clientIp}` : info.clientIp);
  }
  out.set("x-forwarded-proto", info.proto);
  if (info.host) out.set("x-forwarded-host", info.host);
  return out;
}

/**
 * `upstreamRequestHeaders` done on the client's own Headers, in place: the same fields sent upstream without a
 * copy of every field (the bearer token is most of a request's header bytes). Only names are read to find what
 * to drop; nearly always that is `host` alone. The caller must not need the removed fields afterwards.
 */
export function rewriteRequestHeaders(headers: Headers, info: ForwardedInfo): Headers {
  return rewrite(headers, info.requestId, info.traceparent, info.clientIp, info.proto, info.host, false);
}

/**
 * `rewriteRequestHeaders` with X-Forwarded-Host taken from the request's own Host field, the other values as
 * arguments: the proxy's call, without an info object or a read of Host of its own per request.
 */
export function rewriteForwardedHeaders(
  headers: Headers,
  requestId: string,
  traceparent: string | undefined,
  clientIp: string | undefined,
  proto: string,
): Headers {
  return rewrite(headers, requestId, traceparent, clientIp, proto, undefined, true);
}

function rewrite(
  headers: Headers,
  requestId: string,
  traceparent: string | undefined,
  clientIp: string | undefined,
  proto: string,
  givenHost: string | undefined,
  hostFromRequest: boolean,
): Headers {
  let host = givenHost;
  // Bun's Headers.toJSON (one plain object of every field) where the runtime has it: its names walked with
  // for…in cost one object, where the standard keys() iterator costs an iterator and a result object per
  // field (≈ 4 objects a request); the names to drop are deleted as they are found. Elsewhere: keys().
  const fields = (headers as WithToJSON).toJSON?.();
  let prior: string | null = null;
  if (fields !== undefined) {
    let listed: Set<string> | undefined;
    for (const name in fields) {
      if (name === "x-forwarded-for") prior = clientIp ? String(fields[name]) : null;
      else if (name === "host") {
        if (hostFromRequest) host = String(fields[name]);
        headers.delete(name);
      } else if (HOP_BY_HOP.has(name) || name.startsWith("x-fig-")) {
        if (name === "connection" && fields[name]) listed = tokensOf(String(fields[name]));
        headers.delete(name);
      }
    }
    // The fields the Connection header names (deleting an absent one is a no-op).
    if (listed) for (const name of listed) headers.delete(name);
  } else {
    // One pass over the names says which fields are there: `connection` and `x-forwarded-for` are read only
    // when present (nearly never), rather than a native get each per request.
    if (hostFromRequest) host = headers.get("host") ?? undefined;
    const drop: string[] = [];
    let hasConnection = false;
    let hasForwardedFor = false;
    for (const name of headers.keys()) {
      if (name === "x-forwarded-for") hasForwardedFor = true;
      else if (name === "host" || HOP_BY_HOP.has(name) || name.startsWith("x-fig-")) {
        drop.push(name);
        if (name === "connection") hasConnection = true;
      }
    }
    const listed = hasConnection ? connectionListed(headers) : undefined;
    prior = clientIp && hasForwardedFor ? headers.get("x-forwarded-for") : null;
    for (const name of drop) headers.delete(name);
    if (listed) for (const name of listed) headers.delete(name);
  }
  headers.set("x-request-id", requestId);
  if (traceparent) headers.set("traceparent", traceparent);
  if (clientIp) headers.set("x-forwarded-for", prior ? `${prior}, ${clientIp}` : clientIp);
  headers.set("x-forwarded-proto", proto);
  if (host) headers.set("x-forwarded-host", host);
  return headers;
}

/** The upstream's response headers for the client, less hop-by-hop fields. */
export function clientResponseHeaders(upstream: Headers): Headers {
  const listed = connectionListed(upstream);
  const out = new Headers();
  for (const [name, value] of upstream) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out.append(name, value);
  }
  // Headers iteration joins Set-Cookie; getSetCookie keeps each cookie its own field (RFC 6265 §3).
  const cookies = upstream.getSetCookie();
  if (cookies.length > 1) {
    out.delete("set-cookie");
    for (const cookie of cookies) out.append("set-cookie", cookie);
  }
  return out;
}

/**
 * The client's answer: the upstream's response itself, its headers rewritten in place (hop-by-hop fields
 * removed, `extra` set), so the runtime streams the body straight through; a new Response is ≈ 10 µs a
 * request more (bench/README.md). Where fetch's response headers are immutable (the Fetch standard's guard,
 * which Bun does not enforce), the headers are copied into a new Response instead.
 */
export function clientResponse(upstream: Response, extra: Record<string, string>): Response {
  const headers = upstream.headers;
  try {
    const listed = connectionListed(headers);
    for (const name of HOP_BY_HOP) headers.delete(name);
    if (listed) for (const name of listed) headers.delete(name);
    for (const name in extra) headers.set(name, extra[name] as string);
    return upstream;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const out = clientResponseHeaders(headers);
    for (const name in extra) out.set(name, extra[name] as string);
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: out,
    });
  }
}
