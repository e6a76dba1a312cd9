/**
 * The gateway's upstream client on Bun: a `SendFn` over pooled keep-alive HTTP/1.1 connections
 * (`Bun.connect`), parsed on the event loop's own thread.
 *
 * Why not `fetch`: Bun's fetch runs on a separate HTTP-client thread, so every request pays two cross-thread
 * hand-offs and a Response built from a stream; on this project's 2-core reference machine that was ~25 µs
 * of the gateway's ~90 µs of CPU per request (bench/gateway.ts --only profile). No library fits: undici is
 * Node's (Bun maps `undici` to its own fetch), and the pools on npm sit on node:net or on fetch itself.
 * So this is hand-written, kept to what a reverse proxy needs (RFC 9112):
 *
 *   - requests with no body and an idempotent method (GET, HEAD, OPTIONS, DELETE: the reads that are
 *     nearly all of a gateway's traffic). Anything else (a body, POST/PUT/PATCH, an https upstream) goes to
 *     `fallback`, the portable fetch `send`, which streams request bodies;
 *   - responses framed by Content-Length, chunked Transfer-Encoding (decoded), or the connection's close;
 *     1xx interim answers skipped; HEAD / 204 / 304 bodiless; a body that arrived whole with its head becomes
 *     the Response's bytes, any other streams with backpressure (the socket pauses while the client is slow);
 *   - keep-alive: HTTP/1.1 unless `Connection: close` (HTTP/1.0 only with `Connection: keep-alive`); idle
 *     connections close after `idleTimeoutMs` (or the upstream's `Keep-Alive: timeout`, less a second);
 *     a reused connection the upstream closed before answering is retried once on a new one (the request
 *     is idempotent and bodiless, so that is safe: RFC 9110 §9.2.2);
 *   - at most `maxConnections` per origin; past that, requests wait for one (their signal still aborts them);
 *   - the signal (route deadline or the client leaving) aborts: the socket is closed, so the upstream sees
 *     its request abort; a client that leaves mid-body cancels the stream, which closes the socket too.
 *
 * Errors are what fetch would give the policies: the signal's reason on abort (TimeoutError / AbortError),
 * an Error (connection refused, reset, malformed answer) otherwise; resilient-send turns those into 502/504.
 */
import type { SendFn, UpstreamRequest } from "../policies/types.ts";

export type PooledSendOptions = {
  /** Where requests this client does not carry go: the portable fetch `send` (forward.ts createSend). */
  fallback: SendFn;
  /** Connections per upstream origin, busy and idle together (default 256, Bun fetch's own limit). */
  maxConnections?: number;
  /** An idle connection is closed after this long (default 4 s, under Bun.serve's and Node's 5–10 s). */
  idleTimeoutMs?: number;
  /** The largest response head accepted (status line and fields; default 64 KiB). */
  maxHeadBytes?: number;
};

export type PoolStats = {
  /** Connections opened since start. */
  opened: number;
  /** Requests sent on a connection that had served one before. */
  reused: number;
  /** Requests retried because a reused connection was closed by the upstream before it answered. */
  staleRetries: number;
  /** Requests handed to `fallback`. */
  fallbacks: number;
  /** Times a socket was paused because its body's reader was behind (backpressure). */
  pauses: number;
  /** Connections open now (busy + idle), over every origin. */
  open: number;
  idle: number;
};

export type PooledSend = SendFn & { close(): void; stats(): PoolStats };

const POOLED_METHODS = new Set(["GET", "HEAD", "OPTIONS", "DELETE"]);
// Hop-by-hop fields (RFC 9110 §7.6.1) are the connection's, not the message's: never handed on.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"]);
const CR = 13;
const LF = 10;
const MAX_CHUNK_LINE = 4096;
const NON_ASCII = /[^\u0020-\u007e\r\n\t]/;

type Origin = {
  key: string;
  hostname: string;
  port: number;
  hostHeader: string;
  basePath: string;
  idle: Connection[];
  open: number;
  waiters: Waiter[];
};

type Waiter = { resolve: (c: Connection) => void; reject: (e: unknown) => void; signal: AbortSignal };

type Socket = Awaited<ReturnType<typeof Bun.connect>>;

type Exchange = {
  method: string;
  head: string | Uint8Array;
  signal: AbortSignal;
  resolve: (r: Response) => void;
  reject: (e: unknown) => void;
  onAbort: () => void;
  /** head: waiting for the status line and fields; then the body's framing; done: handed back. */
  state: "head" | "fixed" | "chunked" | "close" | "done";
  gotBytes: boolean;
  keepAlive: boolean;
  retried: boolean;
  remaining: number;
  chunk: ChunkState;
  controller?: ReadableStreamDefaultController<Uint8Array>;
  /** Bytes of a head still to be written once the socket drains. */
  unwritten?: Uint8Array | string;
};

type ChunkState = { phase: "size" | "data" | "data-crlf" | "trailer"; line: string; left: number };

class Connection {
  socket: Socket | undefined;
  exchange: Exchange | undefined;
  buffer: Uint8Array | undefined;
  served = 0;
  idleSince = 0;
  idleTimeoutMs: number;
  closed = false;
  constructor(
    readonly origin: Origin,
    idleTimeoutMs: number,
  ) {
    this.idleTimeoutMs = idleTimeoutMs;
  }
}

class UpstreamProtocolError extends Error {
  override name = "UpstreamProtocolError";
}

const latin1 = new TextDecoder("latin1");

/** Bytes → string, one char per byte (header fields are ISO-8859-1 octets, RFC 9110 §5.5). */
function bytesToLatin1(bytes: Uint8Array): string {
  // TextDecoder("latin1") is windows-1252 in the Encoding standard: only ASCII may take that fast path.
  for (let i = 0; i < bytes.length; i++)
    if ((bytes[i] as number) > 0x7f) {
      let out = "";
      for (let j = 0; j < bytes.length; j += 4096)
        out += String.fromCharCode(...bytes.subarray(j, Math.min(bytes.length, j + 4096)));
      return out;
    }
  return latin1.decode(bytes);
}

function latin1ToBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Index of the CRLFCRLF ending a head, or -1. */
function headEnd(buf: Uint8Array, from: number): number {
  let i = buf.indexOf(CR, from);
  while (i !== -1 && i + 3 < buf.length) {
    if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
    i = buf.indexOf(CR, i + 1);
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

type ParsedHead = {
  status: number;
  statusText: string;
  headers: [string, string][];
  minor: number;
  connectionClose: boolean;
  connectionKeepAlive: boolean;
  chunked: boolean;
  otherCoding: boolean;
  contentLength: number | undefined;
  keepAliveTimeoutS: number | undefined;
};

function parseHead(text: string): ParsedHead {
  const lines = text.split("\r\n");
  const statusLine = lines[0] as string;
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  if (!statusLine.startsWith("HTTP/1.") || statusLine.charCodeAt(8) !== 32)
    throw new UpstreamProtocolError(`malformed status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const minor = statusLine.charCodeAt(7) - 48;
  const status = Number(statusLine.slice(9, 12));
  if (!Number.isInteger(status) || status < 100 || status > 599 || minor < 0 || minor > 9)
    throw new UpstreamProtocolError(`malformed status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const head: ParsedHead = {
    status,
    statusText: statusLine.slice(13),
    headers: [],
    minor,
    connectionClose: false,
    connectionKeepAlive: false,
    chunked: false,
    otherCoding: false,
    contentLength: undefined,
    keepAliveTimeoutS: undefined,
  };
  let listed: string[] | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      // obs-fold (RFC 9112 §5.2): a client may replace it with SP.
      const last = head.headers[head.headers.length - 1];
      if (!last) throw new UpstreamProtocolError("header continuation before any field");
      last[1] = `${last[1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0)
      throw new UpstreamProtocolError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    switch (name) {
      case "content-length": {
        if (!/^(\d+)(\s*,\s*\1)*$/.test(value))
          throw new UpstreamProtocolError(`invalid Content-Length: ${JSON.stringify(value)}`);
        const length = Number(value.split(",")[0]);
        if (head.contentLength !== undefined && head.contentLength !== length)
          throw new UpstreamProtocolError("conflicting Content-Length fields");
        head.contentLength = length;
        break;
      }
      case "transfer-encoding": {
        const codings = value
          .toLowerCase()
          .split(",")
          .map((s) => s.trim());
        head.chunked = codings[codings.length - 1] === "chunked";
        head.otherCoding = !head.chunked;
        continue; // decoded here: never handed on
      }
      case "connection": {
        for (const token of value.toLowerCase().split(",")) {
          const t = token.trim();
          if (t === "close") head.connectionClose = true;
          else if (t === "keep-alive") head.connectionKeepAlive = true;
          else if (t) {
            listed ??= [];
            listed.push(t);
          }
        }
        continue;
      }
      case "keep-alive": {
        const m = /(?:^|,)\s*timeout\s*=\s*(\d+)/i.exec(value);
        if (m) head.keepAliveTimeoutS = Number(m[1]);
        continue;
      }
    }
    if (HOP_BY_HOP.has(name)) continue;
    head.headers.push([name, value]);
  }
  if (listed) head.headers = head.headers.filter(([name]) => !listed.includes(name));
  return head;
}

/**
 * The pooled client. `send(upstream, request, signal)` takes the upstream's base URL from `urls`, as the
 * fetch `send` does (base + the request's path and query).
 *
 * @example
 * const send = createPooledSend(urls, { fallback: createSend(urls) });
 * const response = await send("monolith", new Request("http://gateway/api/codes"), AbortSignal.timeout(10_000));
 */
export function createPooledSend(urls: ReadonlyMap<string, string>, options: PooledSendOptions): PooledSend {
  const { fallback } = options;
  const maxConnections = options.maxConnections ?? 256;
  const idleTimeoutMs = options.idleTimeoutMs ?? 4000;
  const maxHeadBytes = options.maxHeadBytes ?? 64 * 1024;
  const stats = { opened: 0, reused: 0, staleRetries: 0, fallbacks: 0, pauses: 0 };
  let closed = false;

  const origins = new Map<string, Origin | null>();
  const byUpstream = new Map<string, Origin | null>();
  for (const [name, base] of urls) byUpstream.set(name, originOf(base));

  function originOf(base: string): Origin | null {
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      return null;
    }
    if (url.protocol !== "http:" || url.username || url.password) return null;
    const port = url.port ? Number(url.port) : 80;
    const key = `${url.hostname}:${port}`;
    const existing = origins.get(key);
    const basePath = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
    if (existing && existing.basePath === basePath) return existing;
    const origin: Origin = {
      key,
      // URL keeps IPv6 hosts bracketed; Bun.connect wants the bare address.
      hostname: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
      port,
      hostHeader: url.host,
      basePath,
      idle: [],
      open: 0,
      waiters: [],
    };
    // Origins with different base paths share nothing but the key: keep one per (key, path).
    if (!existing) origins.set(key, origin);
    return origin;
  }

  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const origin of new Set(byUpstream.values())) {
      if (!origin) continue;
      for (const conn of [...origin.idle]) if (now - conn.idleSince >= conn.idleTimeoutMs) destroy(conn);
    }
  }, 1000);
  (sweeper as { unref?: () => void }).unref?.();

  // ─── connections ─────────────────────────────────────────────────────────────────────────────────────

  async function connect(origin: Origin): Promise<Connection> {
    const conn = new Connection(origin, idleTimeoutMs);
    origin.open++;
    stats.opened++;
    try {
      conn.socket = await Bun.connect({
        hostname: origin.hostname,
        port: origin.port,
        socket: {
          data: (_socket, data) => onData(conn, data),
          drain: () => onDrain(conn),
          close: () => onClose(conn),
          error: () => onClose(conn),
          // The upstream half-closed: that ends a close-framed body; either way the connection is done.
          end: (socket) => {
            onClose(conn);
            socket.terminate();
          },
        },
      });
    } catch (error) {
      if (!conn.closed) {
        conn.closed = true;
        origin.open--;
        serveWaiters(origin);
      }
      throw error;
    }
    conn.socket.setNoDelay(true);
    return conn;
  }

  function acquire(origin: Origin, signal: AbortSignal, fresh: boolean): Promise<Connection> | Connection {
    if (!fresh) {
      const conn = origin.idle.pop();
      if (conn) return conn;
    }
    if (origin.open < maxConnections) return connect(origin);
    return new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      origin.waiters.push(waiter);
      signal.addEventListener(
        "abort",
        () => {
          const i = origin.waiters.indexOf(waiter);
          if (i >= 0) origin.waiters.splice(i, 1);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  function serveWaiters(origin: Origin): void {
    while (origin.waiters.length > 0) {
      const conn = origin.idle.pop();
      if (conn) {
        (origin.waiters.shift() as Waiter).resolve(conn);
        continue;
      }
      if (origin.open >= maxConnections) return;
      const waiter = origin.waiters.shift() as Waiter;
      connect(origin).then(waiter.resolve, waiter.reject);
    }
  }

  function release(conn: Connection, keepAlive: boolean): void {
    conn.exchange = undefined;
    if (!keepAlive || closed || conn.closed || conn.buffer !== undefined) {
      destroy(conn);
      return;
    }
    conn.idleSince = performance.now();
    const origin = conn.origin;
    const waiter = origin.waiters.shift();
    if (waiter) waiter.resolve(conn);
    else origin.idle.push(conn);
  }

  function destroy(conn: Connection): void {
    if (!conn.closed) {
      conn.closed = true;
      conn.origin.open--;
      const i = conn.origin.idle.indexOf(conn);
      if (i >= 0) conn.origin.idle.splice(i, 1);
      serveWaiters(conn.origin);
    }
    conn.buffer = undefined;
    conn.socket?.terminate();
  }

  // ─── one exchange ────────────────────────────────────────────────────────────────────────────────────

  function start(conn: Connection, ex: Exchange): void {
    if (conn.served > 0) stats.reused++;
    conn.served++;
    conn.exchange = ex;
    const socket = conn.socket as Socket;
    const head = ex.head;
    const written = socket.write(head);
    const length = typeof head === "string" ? head.length : head.byteLength;
    if (written < length) {
      const bytes = typeof head === "string" ? latin1ToBytes(head) : head;
      ex.unwritten = bytes.subarray(Math.max(0, written));
    }
  }

  function onDrain(conn: Connection): void {
    const ex = conn.exchange;
    if (!ex?.unwritten || !conn.socket) return;
    const pending = ex.unwritten as Uint8Array;
    const written = conn.socket.write(pending);
    ex.unwritten = written < pending.byteLength ? pending.subarray(Math.max(0, written)) : undefined;
  }

  function settle(ex: Exchange): void {
    ex.state = "done";
    ex.signal.removeEventListener("abort", ex.onAbort);
  }

  /** The exchange failed: reject it (or error its body) and drop the connection. */
  function fail(conn: Connection, ex: Exchange, error: unknown): void {
    const state = ex.state;
    settle(ex);
    if (state === "head") ex.reject(error);
    else
      try {
        ex.controller?.error(error);
      } catch {}
    conn.exchange = undefined;
    destroy(conn);
  }

  function onClose(conn: Connection): void {
    const ex = conn.exchange;
    const wasClosed = conn.closed;
    if (!wasClosed) {
      conn.closed = true;
      conn.origin.open--;
      const i = conn.origin.idle.indexOf(conn);
      if (i >= 0) conn.origin.idle.splice(i, 1);
      serveWaiters(conn.origin);
    }
    if (!ex || ex.state === "done") return;
    conn.exchange = undefined;
    if (ex.state === "close") {
      // Framed by the connection's close: this is the body's end.
      settle(ex);
      try {
        ex.controller?.close();
      } catch {}
      return;
    }
    if (ex.state === "head" && !ex.gotBytes && conn.served > 1 && !ex.retried) {
      // A kept-alive connection the upstream closed as we reused it: the request never reached it.
      stats.staleRetries++;
      ex.retried = true;
      ex.signal.removeEventListener("abort", ex.onAbort);
      void run(conn.origin, ex, true);
      return;
    }
    const error = new Error(
      ex.state === "head"
        ? "upstream closed the connection before answering"
        : "upstream closed the connection mid-body",
    );
    (error as { code?: string }).code = "ECONNRESET";
    fail(conn, ex, error);
  }

  function onData(conn: Connection, data: Uint8Array): void {
    const ex = conn.exchange;
    if (!ex || ex.state === "done") {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      destroy(conn);
      return;
    }
    ex.gotBytes = true;
    try {
      if (ex.state === "head") onHead(conn, ex, data);
      else onBody(conn, ex, data);
    } catch (error) {
      fail(conn, ex, error);
    }
  }

  function onHead(conn: Connection, ex: Exchange, data: Uint8Array): void {
    let buf = conn.buffer ? concat(conn.buffer, data) : data;
    let from = conn.buffer ? Math.max(0, conn.buffer.length - 3) : 0;
    conn.buffer = undefined;
    for (;;) {
      const end = headEnd(buf, from);
      if (end === -1) {
        if (buf.length > maxHeadBytes)
          throw new UpstreamProtocolError(`response head over ${maxHeadBytes} bytes`);
        conn.buffer = buf.slice();
        return;
      }
      if (end > maxHeadBytes) throw new UpstreamProtocolError(`response head over ${maxHeadBytes} bytes`);
      const head = parseHead(bytesToLatin1(buf.subarray(0, end)));
      buf = buf.subarray(end + 4);
      from = 0;
      if (head.status >= 100 && head.status < 200) {
        if (head.status === 101)
          throw new UpstreamProtocolError("upstream switched protocols (101): not proxied");
        continue; // 100 Continue, 103 Early Hints: interim, the final answer follows
      }
      respond(conn, ex, head, buf);
      return;
    }
  }

  function respond(conn: Connection, ex: Exchange, head: ParsedHead, rest: Uint8Array): void {
    ex.keepAlive =
      !head.connectionClose && (head.minor >= 1 || head.connectionKeepAlive) && !head.otherCoding;
    if (head.keepAliveTimeoutS !== undefined)
      conn.idleTimeoutMs = Math.min(idleTimeoutMs, Math.max(0, head.keepAliveTimeoutS * 1000 - 1000));
    const init = { status: head.status, statusText: head.statusText, headers: head.headers };
    const bodiless = ex.method === "HEAD" || head.status === 204 || head.status === 304;

    if (bodiless || (!head.chunked && !head.otherCoding && head.contentLength === 0)) {
      settle(ex);
      ex.resolve(new Response(null, init));
      if (rest.length > 0) destroy(conn);
      else release(conn, ex.keepAlive);
      return;
    }
    if (!head.chunked && !head.otherCoding && head.contentLength !== undefined) {
      if (head.contentLength <= rest.length) {
        // The whole body came with the head: hand over its bytes, no stream.
        settle(ex);
        ex.resolve(new Response(rest.slice(0, head.contentLength), init));
        if (rest.length > head.contentLength) destroy(conn);
        else release(conn, ex.keepAlive);
        return;
      }
      ex.state = "fixed";
      ex.remaining = head.contentLength;
    } else if (head.chunked) {
      ex.state = "chunked";
      ex.chunk = { phase: "size", line: "", left: 0 };
      // A message with both is framed by Transfer-Encoding, and the connection must not be reused.
      if (head.contentLength !== undefined) ex.keepAlive = false;
    } else {
      ex.state = "close";
      ex.keepAlive = false;
    }
    const socket = conn.socket as Socket;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          ex.controller = controller;
        },
        pull: () => {
          socket.resume();
        },
        cancel: () => {
          // The client went away mid-body: closing the socket aborts the upstream's response too.
          if (ex.state !== "done") settle(ex);
          conn.exchange = undefined;
          destroy(conn);
        },
      },
      { highWaterMark: 64 * 1024, size: (chunk) => chunk?.byteLength ?? 0 },
    );
    // The exchange goes on until the body ends: the signal still aborts it (the client leaving mid-body).
    ex.resolve(new Response(body, init));
    if (rest.length > 0) onBody(conn, ex, rest);
  }

  function enqueue(conn: Connection, ex: Exchange, bytes: Uint8Array): void {
    const controller = ex.controller as ReadableStreamDefaultController<Uint8Array>;
    controller.enqueue(bytes.slice());
    if ((controller.desiredSize ?? 1) <= 0 && conn.socket) {
      stats.pauses++;
      conn.socket.pause();
    }
  }

  function finishBody(conn: Connection, ex: Exchange, rest: Uint8Array): void {
    settle(ex);
    ex.controller?.close();
    if (rest.length > 0) destroy(conn);
    else release(conn, ex.keepAlive);
  }

  function onBody(conn: Connection, ex: Exchange, data: Uint8Array): void {
    if (ex.state === "close") {
      enqueue(conn, ex, data);
      return;
    }
    if (ex.state === "fixed") {
      if (data.length < ex.remaining) {
        ex.remaining -= data.length;
        enqueue(conn, ex, data);
        return;
      }
      enqueue(conn, ex, data.subarray(0, ex.remaining));
      const rest = data.subarray(ex.remaining);
      ex.remaining = 0;
      finishBody(conn, ex, rest);
      return;
    }
    // chunked (RFC 9112 §7.1)
    const st = ex.chunk;
    let i = 0;
    while (i < data.length) {
      if (st.phase === "data") {
        const n = Math.min(st.left, data.length - i);
        enqueue(conn, ex, data.subarray(i, i + n));
        st.left -= n;
        i += n;
        if (st.left === 0) st.phase = "data-crlf";
        continue;
      }
      // size, data-crlf and trailer lines: read to LF
      const lf = data.indexOf(LF, i);
      const end = lf === -1 ? data.length : lf;
      st.line += bytesToLatin1(data.subarray(i, end));
      if (st.line.length > MAX_CHUNK_LINE) throw new UpstreamProtocolError("chunk line too long");
      i = end;
      if (lf === -1) break;
      i++; // past LF
      const line = st.line.endsWith("\r") ? st.line.slice(0, -1) : st.line;
      st.line = "";
      if (st.phase === "data-crlf") {
        if (line !== "") throw new UpstreamProtocolError("chunk data not followed by CRLF");
        st.phase = "size";
      } else if (st.phase === "size") {
        const hex = (line.split(";")[0] as string).trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex))
          throw new UpstreamProtocolError(`invalid chunk size ${JSON.stringify(hex)}`);
        const size = Number.parseInt(hex, 16);
        if (size === 0) st.phase = "trailer";
        else {
          st.left = size;
          st.phase = "data";
        }
      } else if (line === "") {
        // trailer section ended: the message is complete (trailer fields are dropped, as fetch does)
        finishBody(conn, ex, data.subarray(i));
        return;
      }
    }
  }

  // ─── send ────────────────────────────────────────────────────────────────────────────────────────────

  async function run(origin: Origin, ex: Exchange, fresh: boolean): Promise<void> {
    let conn: Connection;
    try {
      conn = await acquire(origin, ex.signal, fresh);
    } catch (error) {
      settle(ex);
      ex.reject(ex.signal.aborted ? ex.signal.reason : error);
      return;
    }
    if (ex.signal.aborted || closed) {
      release(conn, !closed);
      settle(ex);
      ex.reject(ex.signal.aborted ? ex.signal.reason : new Error("upstream client closed"));
      return;
    }
    ex.onAbort = () => {
      if (ex.state !== "done") fail(conn, ex, ex.signal.reason);
    };
    ex.signal.addEventListener("abort", ex.onAbort, { once: true });
    start(conn, ex);
  }

  function send(upstream: string, request: UpstreamRequest, signal: AbortSignal): Promise<Response> {
    const origin = byUpstream.get(upstream);
    const method = request.method;
    if (!origin || request.body !== null || !POOLED_METHODS.has(method) || closed) {
      if (origin === undefined) return Promise.reject(new Error(`No URL for upstream ${upstream}`));
      stats.fallbacks++;
      return fallback(upstream, request, signal);
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    const url = request.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const path = origin.basePath + (pathStart === -1 ? "/" : url.slice(pathStart));
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${origin.hostHeader}\r\n`;
    for (const [name, value] of request.headers) {
      if (name === "host" || HOP_BY_HOP.has(name) || name === "content-length") continue;
      head += `${name}: ${value}\r\n`;
    }
    head += "\r\n";
    // Bun writes a string as UTF-8: a field with obs-text (bytes ≥ 0x80) must go as its own octets.
    const wire: string | Uint8Array = NON_ASCII.test(head) ? latin1ToBytes(head) : head;
    return new Promise<Response>((resolve, reject) => {
      const ex: Exchange = {
        method,
        head: wire,
        signal,
        resolve,
        reject,
        onAbort: () => {},
        state: "head",
        gotBytes: false,
        keepAlive: true,
        retried: false,
        remaining: 0,
        chunk: { phase: "size", line: "", left: 0 },
      };
      void run(origin, ex, false);
    });
  }

  return Object.assign(send, {
    close() {
      closed = true;
      clearInterval(sweeper);
      for (const origin of new Set(byUpstream.values())) {
        if (!origin) continue;
        for (const conn of [...origin.idle]) destroy(conn);
        for (const waiter of origin.waiters.splice(0)) waiter.reject(new Error("upstream client closed"));
      }
    },
    stats(): PoolStats {
      let open = 0;
      let idle = 0;
      for (const origin of new Set(byUpstream.values())) {
        if (!origin) continue;
        open += origin.open;
        idle += origin.idle.length;
      }
      return { ...stats, open, idle };
    },
  });
}
