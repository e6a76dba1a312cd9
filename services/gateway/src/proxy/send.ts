import type { SendFn } from "../policies/types.ts";

/**
 * `fetch` of one attempt: the prepared request's path and query on the upstream's base URL, bodies
 * streamed both ways (`duplex: "half"`), redirects and content encodings passed through untouched.
 *
 * @example
 * const send = createSend(new Map([["monolith", "http://127.0.0.1:8081"]]));
 * const response = await send("monolith", request, signal);
 */
export function createSend(urls: ReadonlyMap<string, string>): SendFn {
  return function send(upstream, request, signal) {
    const base = urls.get(upstream);
    if (!base) return Promise.reject(new Error(`No URL for upstream ${upstream}`));
    const url = request.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    return fetch(base + (pathStart === -1 ? "/" : url.slice(pathStart)), {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
      redirect: "manual",
      // Bun: keep the upstream's bytes (and its content-encoding) as they are, streaming.
      decompress: false,
      duplex: "half",
    } as RequestInit);
  };
}
