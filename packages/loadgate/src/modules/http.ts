/**
 * The builtin engine's `k6/http` module over fetch.
 *
 * - `asyncRequest` is k6's (a Promise of a Response). The sync-looking calls (`request`, `get`, `post`, `put`,
 *   `patch`, `del`, `head`, `options`, `batch`) cannot block one VU without blocking all of them, so they return a
 *   Promise too: write `await http.get(...)` (valid on k6, where await of a Response is a no-op). Reading
 *   `.status` of an un-awaited call throws a TypeError saying so, instead of failing checks silently.
 * - Metrics per request: http_reqs, http_req_duration (fetch start → body read; includes connecting on a new
 *   connection, which fetch does not expose separately), http_req_failed (k6's default expected statuses
 *   200–399, or `setResponseCallback(expectedStatuses(...))`), data_sent / data_received (bytes of the request
 *   and response as fetch sees them: request line, headers set by the script, body; status line, headers,
 *   decoded body). http_req_blocked/connecting/tls_handshaking/sending/waiting/receiving are not measured and not
 *   reported. Redirects are followed by fetch and count as one request.
 * - Tags: name (default: the URL), method, url, status, expected_response, group, scenario, plus params.tags.
 */
import { currentRun, currentVu, type ExpectedStatuses, type VuState } from "../context.ts";
import { parseDuration } from "../duration.ts";
import type { Tags } from "../metrics.ts";
import { sampleTags } from "./k6.ts";

export type Params = {
  headers?: Record<string, string>;
  tags?: Tags;
  timeout?: string | number;
  responseType?: "text" | "binary" | "none";
  responseCallback?: ExpectedStatuses | null;
  redirects?: number;
};

type RequestBody = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | null | undefined;
type UrlArg = string | { url: string; name?: string };

/** Thrown out of a request the engine aborted (hard stop, threshold abort): the iteration is interrupted. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
}

const DEFAULT_EXPECTED: ExpectedStatuses = { kind: "expectedStatuses", ranges: [[200, 399]] };

/** Go's CanonicalMIMEHeaderKey: k6 exposes `res.headers["Content-Type"]`. */
function canonical(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

function selectJson(value: unknown, selector: string): unknown {
  // A small subset of gjson (k6's selector syntax): dotted keys, array indexes and `#` for a length.
  let current: unknown = value;
  for (const part of selector.split(".")) {
    if (current === null || current === undefined) return undefined;
    if (part === "#" && Array.isArray(current)) current = current.length;
    else current = (current as Record<string, unknown>)[part];
  }
  return current;
}

export class K6Response {
  status: number;
  status_text: string;
  body: string | ArrayBuffer | null;
  headers: Record<string, string>;
  url: string;
  proto = "HTTP/1.1";
  error: string;
  error_code: number;
  /** Only `duration` is measured (see the module comment). */
  timings: { duration: number };
  request: { method: string; url: string; headers: Record<string, string>; body: string };

  constructor(init: {
    status: number;
    statusText: string;
    body: string | ArrayBuffer | null;
    headers: Record<string, string>;
    url: string;
    error: string;
    errorCode: number;
    duration: number;
    request: K6Response["request"];
  }) {
    this.status = init.status;
    this.status_text = init.statusText;
    this.body = init.body;
    this.headers = init.headers;
    this.url = init.url;
    this.error = init.error;
    this.error_code = init.errorCode;
    this.timings = { duration: init.duration };
    this.request = init.request;
  }

  json(selector?: string): unknown {
    if (typeof this.body !== "string")
      throw new Error("json(): the response body is not text (responseType)");
    const parsed = JSON.parse(this.body);
    return selector === undefined ? parsed : selectJson(parsed, selector);
  }
}

/** The `detail` of a problem+json answer, else the start of the body as text. */
function problemDetail(bytes: ArrayBuffer): string | null {
  const text = decoder.decode(bytes).trim();
  if (!text) return null;
  try {
    const detail = (JSON.parse(text) as { detail?: unknown; title?: unknown }).detail;
    if (typeof detail === "string" && detail) return detail;
  } catch {}
  return text.slice(0, 200);
}

/** Counts the answer under its request name; keeps the first 401/403's detail (why the gate was refused). */
function countAnswer(vu: VuState, name: string, status: number, bytes: ArrayBuffer | null) {
  let stats = vu.run.requests.get(name);
  if (!stats) {
    stats = { statuses: {}, refused: null };
    vu.run.requests.set(name, stats);
  }
  const key = String(status);
  stats.statuses[key] = (stats.statuses[key] ?? 0) + 1;
  if ((status === 401 || status === 403) && !stats.refused)
    stats.refused = { status, detail: bytes ? problemDetail(bytes) : null };
}

function requireVu(): VuState {
  const vu = currentVu();
  if (!vu) throw new Error("k6/http: requests are not allowed in the init context (as in k6)");
  return vu;
}

function statusExpected(callback: ExpectedStatuses, status: number): boolean {
  for (const [min, max] of callback.ranges) if (status >= min && status <= max) return true;
  return false;
}

function errorCodeOf(error: unknown): number {
  const code = (error as { code?: unknown })?.code;
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return 1212;
  if (code === "ECONNRESET" || code === "ConnectionClosed") return 1220;
  return 1000;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeBody(body: RequestBody, headers: Record<string, string>): BodyInit | undefined {
  if (body === null || body === undefined) return undefined;
  if (typeof body === "string") return body;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body as BodyInit;
  // k6: an object body is sent x-www-form-urlencoded.
  if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type"))
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  return new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString();
}

function byteLength(body: BodyInit | undefined): number {
  if (body === undefined) return 0;
  if (typeof body === "string") return encoder.encode(body).byteLength;
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  return 0;
}

function headerBytes(headers: Iterable<[string, string]>): number {
  let n = 2; // the blank line
  for (const [k, v] of headers) n += k.length + v.length + 4;
  return n;
}

export async function asyncRequest(
  method: string,
  url: UrlArg,
  body?: RequestBody,
  params?: Params | null,
): Promise<K6Response> {
  const vu = requireVu();
  const run = vu.run;
  const verb = String(method).toUpperCase();
  const target = typeof url === "object" && url !== null ? url.url : String(url);
  const defaultName = typeof url === "object" && url !== null && url.name ? url.name : target;
  const headers: Record<string, string> = { "User-Agent": run.userAgent };
  if (params?.headers) for (const [k, v] of Object.entries(params.headers)) headers[k] = String(v);
  const payload = encodeBody(body, headers);
  const timeoutMs = params?.timeout === undefined ? 60_000 : parseDuration(params.timeout, "params.timeout");
  const responseType = params?.responseType ?? (run.discardResponseBodies ? "none" : "text");
  const callback = params?.responseCallback === undefined ? run.responseCallback : params.responseCallback;

  let path = target;
  try {
    const parsed = new URL(target);
    path = parsed.pathname + parsed.search;
  } catch {
    // an invalid URL fails in fetch below
  }
  const sent =
    `${verb} ${path} HTTP/1.1\r\n`.length + headerBytes(Object.entries(headers)) + byteLength(payload);

  const signal = AbortSignal.any([vu.signal, AbortSignal.timeout(timeoutMs)]);
  const start = performance.now();
  let status = 0;
  let statusText = "";
  let responseBody: string | ArrayBuffer | null = null;
  let responseHeaders: Record<string, string> = {};
  let received = 0;
  let answerBytes: ArrayBuffer | null = null;
  let error = "";
  let errorCode = 0;
  try {
    const res = await fetch(target, {
      method: verb,
      headers,
      body: payload,
      signal,
      redirect: params?.redirects === 0 ? "manual" : "follow",
    });
    const bytes = await res.arrayBuffer();
    answerBytes = bytes;
    status = res.status;
    statusText = res.statusText;
    const raw: [string, string][] = [];
    res.headers.forEach((value, key) => {
      raw.push([key, value]);
      responseHeaders[canonical(key)] = value;
    });
    received = `HTTP/1.1 ${status} ${statusText}\r\n`.length + headerBytes(raw) + bytes.byteLength;
    responseBody = responseType === "none" ? null : responseType === "binary" ? bytes : decoder.decode(bytes);
  } catch (err) {
    if (vu.signal.aborted)
      throw new InterruptedError("the request was aborted by the engine (test stopping)");
    const timedOut = (err as Error)?.name === "TimeoutError";
    error = timedOut ? `request timeout after ${timeoutMs} ms` : String((err as Error)?.message ?? err);
    errorCode = timedOut ? 1050 : errorCodeOf(err);
    responseHeaders = {};
  }
  const duration = performance.now() - start;

  const expected = callback ? status !== 0 && statusExpected(callback, status) : undefined;
  const extra: Tags = { name: defaultName, method: verb, url: target, status: String(status) };
  if (expected !== undefined) extra.expected_response = String(expected);
  if (errorCode) extra.error_code = String(errorCode);
  if (params?.tags) for (const [k, v] of Object.entries(params.tags)) extra[k] = String(v);
  const tags = sampleTags(vu, extra);
  countAnswer(vu, tags.name ?? defaultName, status, answerBytes);
  const { registry, builtin } = run;
  registry.add(builtin.http_reqs, 1, tags);
  registry.add(builtin.http_req_duration, duration, tags);
  if (expected !== undefined) registry.add(builtin.http_req_failed, expected ? 0 : 1, tags);
  registry.add(builtin.data_sent, sent, tags);
  registry.add(builtin.data_received, received, tags);

  return new K6Response({
    status,
    statusText,
    body: responseBody,
    headers: responseHeaders,
    url: target,
    error,
    errorCode,
    duration,
    request: { method: verb, url: target, headers, body: typeof payload === "string" ? payload : "" },
  });
}

/** A Promise that throws a clear TypeError when read like a k6 sync Response before being awaited. */
function awaitable<T extends object>(promise: Promise<T>, what: string): Promise<T> {
  return new Proxy(promise, {
    get(target, prop) {
      if (typeof prop === "symbol" || prop in target) {
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      throw new TypeError(
        `${what} returns a Promise in the builtin engine (all VUs share one event loop): write \`await ${what}\` ` +
          `(valid on k6 too) before reading .${prop}`,
      );
    },
  });
}

export function request(method: string, url: UrlArg, body?: RequestBody, params?: Params | null) {
  return awaitable(asyncRequest(method, url, body, params), "http.request()");
}
export const get = (url: UrlArg, params?: Params | null) =>
  awaitable(asyncRequest("GET", url, null, params), "http.get()");
export const head = (url: UrlArg, params?: Params | null) =>
  awaitable(asyncRequest("HEAD", url, null, params), "http.head()");
export const post = (url: UrlArg, body?: RequestBody, params?: Params | null) =>
  awaitable(asyncRequest("POST", url, body, params), "http.post()");
export const put = (url: UrlArg, body?: RequestBody, params?: Params | null) =>
  awaitable(asyncRequest("PUT", url, body, params), "http.put()");
export const patch = (url: UrlArg, body?: RequestBody, params?: Params | null) =>
  awaitable(asyncRequest("PATCH", url, body, params), "http.patch()");
export const del = (url: UrlArg, body?: RequestBody, params?: Params | null) =>
  awaitable(asyncRequest("DELETE", url, body, params), "http.del()");
export const options = (url: UrlArg, body?: RequestBody, params?: Params | null) =>
  awaitable(asyncRequest("OPTIONS", url, body, params), "http.options()");

type BatchItem =
  | string
  | [string, UrlArg, RequestBody?, (Params | null)?]
  | { method?: string; url: UrlArg; body?: RequestBody; params?: Params | null };

function batchOne(item: BatchItem): Promise<K6Response> {
  if (typeof item === "string") return asyncRequest("GET", item, null, null);
  if (Array.isArray(item)) return asyncRequest(item[0], item[1], item[2], item[3]);
  return asyncRequest(item.method ?? "GET", item.url, item.body, item.params);
}

/** k6's batch: an array or an object of requests, sent in parallel; answers in the same shape. */
export function batch(requests: BatchItem[] | Record<string, BatchItem>) {
  const run = async () => {
    if (Array.isArray(requests)) return Promise.all(requests.map(batchOne));
    const entries = await Promise.all(
      Object.entries(requests).map(async ([k, v]) => [k, await batchOne(v)] as const),
    );
    return Object.fromEntries(entries);
  };
  return awaitable(run(), "http.batch()");
}

export function expectedStatuses(...statuses: (number | { min: number; max: number })[]): ExpectedStatuses {
  const ranges: [number, number][] = statuses.map((s) => {
    if (typeof s === "number" && Number.isInteger(s)) return [s, s];
    if (s && typeof s === "object" && Number.isInteger(s.min) && Number.isInteger(s.max))
      return [s.min, s.max];
    throw new TypeError(`expectedStatuses: ${JSON.stringify(s)} is neither a status nor { min, max }`);
  });
  return { kind: "expectedStatuses", ranges };
}

/** Run-wide here (k6: per VU; scripts call it in the init context, where both mean the same). */
export function setResponseCallback(callback: ExpectedStatuses | null) {
  // In the init context the run is the one being initialised.
  const run = currentRun();
  if (callback !== null && callback?.kind !== "expectedStatuses")
    throw new TypeError("setResponseCallback takes http.expectedStatuses(...) or null");
  run.responseCallback = callback;
}

/** k6's `http.url` tagged template: the URL, named by its template so ids group into one series. */
export function url(strings: TemplateStringsArray, ...values: unknown[]): { url: string; name: string } {
  let full = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) full += String(values[i]) + (strings[i + 1] ?? "");
  // k6 names the series by the template with each placeholder written as a literal "${}".
  return { url: full, name: strings.join("$" + "{}") };
}

export const DEFAULT_RESPONSE_CALLBACK = DEFAULT_EXPECTED;

export const httpModule = {
  asyncRequest,
  request,
  get,
  head,
  post,
  put,
  patch,
  del,
  options,
  batch,
  expectedStatuses,
  setResponseCallback,
  url,
};
