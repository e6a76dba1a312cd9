import { afterAll, describe, expect, test } from "bun:test";
import { createPooledSend, type PooledSend } from "../src/proxy/bun-pool.ts";
import { createSend } from "../src/proxy/forward.ts";
import { until } from "./harness.ts";

// The pooled HTTP/1.1 client against real sockets: Bun.serve upstreams for ordinary answers, raw TCP
// servers (Bun.listen) where the test must write the exact bytes an upstream sends.

type Raw = {
  url: string;
  /** Every request head received, in order, as latin1 text. */
  heads: string[];
  /** Connections accepted so far, and how many have closed. */
  accepted: number;
  closed: number;
  stop(): void;
};

type RawSocket = { write(data: string | Uint8Array): number; end(): void; terminate(): void };

/** A TCP server that calls `answer` with each complete request head; it writes whatever it likes. */
function rawServer(answer: (socket: RawSocket, head: string, index: number) => void): Raw {
  const state = { heads: [] as string[], accepted: 0, closed: 0 };
  const buffers = new Map<unknown, string>();
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        state.accepted++;
        buffers.set(socket, "");
      },
      data(socket, data) {
        let text = (buffers.get(socket) ?? "") + Buffer.from(data).toString("latin1");
        for (let end = text.indexOf("\r\n\r\n"); end !== -1; end = text.indexOf("\r\n\r\n")) {
          const head = text.slice(0, end);
          text = text.slice(end + 4);
          state.heads.push(head);
          answer(socket as unknown as RawSocket, head, state.heads.length - 1);
        }
        buffers.set(socket, text);
      },
      close(socket) {
        state.closed++;
        buffers.delete(socket);
      },
    },
  });
  return Object.assign(state, {
    url: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(true),
  });
}

const pools: PooledSend[] = [];
const stoppers: (() => void)[] = [];
afterAll(() => {
  for (const pool of pools) pool.close();
  for (const stop of stoppers) stop();
});

function poolFor(url: string, options: { maxConnections?: number; idleTimeoutMs?: number } = {}) {
  const urls = new Map([["up", url]]);
  const pool = createPooledSend(urls, { fallback: createSend(urls), ...options });
  pools.push(pool);
  return pool;
}

function raw(answer: Parameters<typeof rawServer>[0]): Raw {
  const server = rawServer(answer);
  stoppers.push(server.stop);
  return server;
}

const get = (path = "/api/x", headers: Record<string, string> = {}) => ({
  method: "GET",
  url: `http://gateway.test${path}`,
  headers: new Headers(headers),
  body: null,
});
const never = () => new AbortController().signal;

describe("keep-alive and the pool", () => {
  test("sequential requests reuse one connection; the path and query reach the upstream's base path", async () => {
    const paths: string[] = [];
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        const url = new URL(request.url);
        paths.push(url.pathname + url.search);
        return Response.json({ n: paths.length });
      },
    });
    stoppers.push(() => server.stop(true));
    const pool = poolFor(`http://127.0.0.1:${server.port}/base`);
    for (let i = 1; i <= 20; i++) {
      const response = await pool("up", get(`/api/codes?i=${i}`), never());
      expect(await response.json()).toEqual({ n: i });
    }
    expect(paths[19]).toBe("/base/api/codes?i=20");
    expect(pool.stats()).toMatchObject({ opened: 1, reused: 19, fallbacks: 0, open: 1, idle: 1 });
  });

  test("at most maxConnections per origin: the rest wait for a connection, and all are answered", async () => {
    const held: (() => void)[] = [];
    let concurrent = 0;
    let peak = 0;
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch() {
        concurrent++;
        peak = Math.max(peak, concurrent);
        await new Promise<void>((resolve) => held.push(resolve));
        concurrent--;
        return new Response("done");
      },
    });
    stoppers.push(() => server.stop(true));
    const pool = poolFor(`http://127.0.0.1:${server.port}`, { maxConnections: 2 });
    const answers = Array.from({ length: 8 }, () => pool("up", get(), never()).then((r) => r.text()));
    let released = 0;
    while (released < 8) {
      await until(() => held.length > 0, "a held request");
      (held.shift() as () => void)();
      released++;
    }
    expect(await Promise.all(answers)).toEqual(Array(8).fill("done"));
    expect(peak).toBe(2);
    expect(pool.stats().opened).toBe(2);
  });

  test("a reused connection the upstream closed before answering is retried once on a new one", async () => {
    // Answers once per connection, without Connection: close, then hangs up on the next request.
    const server = raw((socket, _head, index) => {
      if (index % 2 === 0) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      else socket.end();
    });
    const pool = poolFor(server.url);
    expect(await (await pool("up", get(), never())).text()).toBe("ok");
    expect(await (await pool("up", get(), never())).text()).toBe("ok");
    expect(pool.stats()).toMatchObject({ opened: 2, staleRetries: 1 });
  });

  test("Connection: close and HTTP/1.0 answers are not kept; idle connections close after idleTimeoutMs", async () => {
    const server = raw((socket, head) => {
      if (head.includes("/close"))
        socket.write("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na");
      else if (head.includes("/ten")) socket.write("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb");
      else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc");
    });
    const pool = poolFor(server.url, { idleTimeoutMs: 1 });
    expect(await (await pool("up", get("/close"), never())).text()).toBe("a");
    expect(await (await pool("up", get("/ten"), never())).text()).toBe("b");
    expect(pool.stats()).toMatchObject({ opened: 2, idle: 0 });
    expect(await (await pool("up", get("/keep"), never())).text()).toBe("c");
    expect(pool.stats().idle).toBe(1);
    // The sweeper runs every second: the idle connection goes once it has been idle past the timeout.
    await until(() => pool.stats().open === 0, "the idle connection to close");
    await until(() => server.closed === 3, "the upstream to see three closes");
  });

  test("bytes on an idle connection nobody asked for drop it; the next request opens a new one", async () => {
    const server = raw((socket) => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxGARBAGE"));
    const pool = poolFor(server.url);
    expect(await (await pool("up", get(), never())).text()).toBe("x");
    await until(() => pool.stats().open === 0, "the connection with trailing bytes to be dropped");
    expect(await (await pool("up", get(), never())).text()).toBe("x");
    expect(pool.stats().opened).toBe(2);
  });
});

describe("response framing (RFC 9112 §6)", () => {
  test("chunked bodies are decoded across any split, extensions and trailers included; the connection is reused", async () => {
    const body = "Wikipedia in\r\n\r\nchunks.";
    const wire =
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n" +
      "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-trailer: t\r\n\r\n";
    const server = raw((socket, _head, index) => {
      // First answer: one byte per write; second: all at once.
      if (index === 0) {
        let i = 0;
        const next = () => {
          if (i < wire.length) {
            socket.write(wire[i++] as string);
            setTimeout(next, 0);
          }
        };
        next();
      } else socket.write(wire);
    });
    const pool = poolFor(server.url);
    const first = await pool("up", get(), never());
    expect(first.headers.get("transfer-encoding")).toBeNull();
    expect(await first.text()).toBe(body);
    expect(await (await pool("up", get(), never())).text()).toBe(body);
    expect(pool.stats()).toMatchObject({ opened: 1, reused: 1 });
  });

  test("a body without length is read to the connection's close", async () => {
    const server = raw((socket) => {
      socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ");
      setTimeout(() => {
        socket.write("close");
        socket.end();
      }, 5);
    });
    const pool = poolFor(server.url);
    expect(await (await pool("up", get(), never())).text()).toBe("until close");
    expect(pool.stats().open).toBe(0);
  });

  test("a Content-Length body that arrives in pieces streams whole", async () => {
    const payload = "y".repeat(300_000);
    const server = raw((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${payload.length}\r\n\r\n`);
      let at = 0;
      const next = () => {
        if (at >= payload.length) return;
        const wrote = socket.write(payload.slice(at, at + 65_536));
        at += Math.max(0, wrote);
        setTimeout(next, 1);
      };
      next();
    });
    const pool = poolFor(server.url);
    const text = await (await pool("up", get(), never())).text();
    expect(text.length).toBe(payload.length);
    expect(text).toBe(payload);
  });

  test("HEAD, 204 and 304 have no body whatever their Content-Length; 1xx interim answers are skipped", async () => {
    const server = raw((socket, head) => {
      if (head.startsWith("HEAD")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");
      else if (head.includes("/204")) socket.write("HTTP/1.1 204 No Content\r\n\r\n");
      else if (head.includes("/304")) socket.write('HTTP/1.1 304 Not Modified\r\netag: "a"\r\n\r\n');
      else
        socket.write(
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n" +
            "HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nnew",
        );
    });
    const pool = poolFor(server.url);
    const head = await pool("up", { ...get(), method: "HEAD" }, never());
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1234");
    expect(head.body).toBeNull();
    const noContent = await pool("up", get("/204"), never());
    expect(noContent.status).toBe(204);
    const notModified = await pool("up", get("/304"), never());
    expect([notModified.status, notModified.headers.get("etag")]).toEqual([304, '"a"']);
    const created = await pool("up", get("/201"), never());
    expect([created.status, await created.text(), created.headers.get("link")]).toEqual([201, "new", null]);
    // Every answer was framed right, so one connection served all four.
    expect(pool.stats()).toMatchObject({ opened: 1, reused: 3 });
  });

  test("malformed answers are errors, never a guessed response", async () => {
    const answers: Record<string, string> = {
      "/garbage": "SMTP ready\r\n\r\n",
      "/lengths": "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
      "/badlength": "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\na",
      "/badchunk": "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
      "/upgrade": "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
    };
    const server = raw((socket, head) => socket.write(answers[head.split(" ")[1] as string] as string));
    const pool = poolFor(server.url);
    for (const path of ["/garbage", "/lengths", "/badlength", "/upgrade"])
      await expect(pool("up", get(path), never())).rejects.toThrow(/malformed|Content-Length|101/);
    const chunked = await pool("up", get("/badchunk"), never());
    await expect(chunked.text()).rejects.toThrow(/chunk size/);
  });
});

describe("fields", () => {
  test("Set-Cookie fields stay separate; hop-by-hop and Connection-listed fields are dropped", async () => {
    const server = raw((socket) =>
      socket.write(
        "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nconnection: keep-alive, x-secret\r\n" +
          "keep-alive: timeout=5\r\nx-secret: s\r\nx-kept: k\r\ncontent-length: 0\r\n\r\n",
      ),
    );
    const pool = poolFor(server.url);
    const response = await pool("up", get(), never());
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(response.headers.get("x-kept")).toBe("k");
    for (const name of ["connection", "keep-alive", "x-secret"])
      expect(response.headers.get(name)).toBeNull();
  });

  test("the request head carries the upstream's Host and the caller's fields; obs-text octets pass as they are", async () => {
    const server = raw((socket) =>
      socket.write(
        new Uint8Array([
          ...new TextEncoder().encode("HTTP/1.1 200 OK\r\nx-name: Montr"),
          0xe9,
          ...new TextEncoder().encode("al\r\ncontent-length: 0\r\n\r\n"),
        ]),
      ),
    );
    const pool = poolFor(server.url);
    const response = await pool(
      "up",
      get("/api/x?q=1", { host: "client.example", "x-city": "Qu\u00e9bec", authorization: "Bearer t" }),
      never(),
    );
    expect(response.headers.get("x-name")).toBe("Montr\u00e9al");
    const head = server.heads[0] as string;
    expect(head.split("\r\n")[0]).toBe("GET /api/x?q=1 HTTP/1.1");
    expect(head).toContain(`host: ${new URL(server.url).host}`);
    expect(head).not.toContain("client.example");
    expect(head).toContain("authorization: Bearer t");
    // One octet 0xE9, as the client sent it (a UTF-8 re-encoding would be two).
    expect(head).toContain("x-city: Qu\u00e9bec");
  });
});

describe("aborts, errors and backpressure", () => {
  test("the signal aborts a request waiting for its answer: its reason is the error, the upstream sees the close", async () => {
    const server = raw(() => {}); // never answers
    const pool = poolFor(server.url);
    const controller = new AbortController();
    const pending = pool("up", get(), controller.signal);
    await until(() => server.heads.length === 1, "the request to arrive");
    controller.abort(new DOMException("No response within 5 ms", "TimeoutError"));
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("TimeoutError");
    await until(() => server.closed === 1, "the upstream to see the connection close");
    expect(pool.stats().open).toBe(0);
  });

  test("cancelling a streaming body (the client left) closes the upstream connection", async () => {
    const server = raw((socket) =>
      socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: 1\n\n"),
    );
    const pool = poolFor(server.url);
    const response = await pool("up", get(), never());
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("data: 1\n\n");
    await reader.cancel();
    await until(() => server.closed === 1, "the upstream to see the connection close");
  });

  test("a refused connection is an Error (a 502 for the policies), not an abort", async () => {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const pool = poolFor(`http://127.0.0.1:${port}`);
    const error = await pool("up", get(), never()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error instanceof DOMException).toBe(false);
    expect(pool.stats().open).toBe(0);
  });

  test("a slow reader pauses the socket: the upstream is held back, then every byte arrives", async () => {
    const total = 64 * 1024 * 1024;
    const chunk = new Uint8Array(256 * 1024).fill(120);
    let written = 0;
    let blockedAt = -1;
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket) {
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`);
          pump(socket);
        },
        drain: (socket) => pump(socket),
      },
    });
    stoppers.push(() => server.stop(true));
    function pump(socket: { write(b: Uint8Array): number }) {
      while (written < total) {
        const n = socket.write(chunk.subarray(0, Math.min(chunk.length, total - written)));
        written += Math.max(0, n);
        if (n < chunk.length) {
          if (blockedAt === -1) blockedAt = written;
          return; // wait for drain
        }
      }
    }
    const pool = poolFor(`http://127.0.0.1:${server.port}`);
    const response = await pool("up", get(), never());
    // Nothing is read yet: the upstream must block well before it has written everything.
    await until(() => blockedAt !== -1 && pool.stats().pauses > 0, "the client to pause its socket");
    // Paused, the client reads nothing more: several round trips of other traffic on this event loop later,
    // the upstream has not written one byte more (a client that kept reading would have let it go on).
    const before = written;
    const other = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("other") });
    stoppers.push(() => other.stop(true));
    const otherPool = poolFor(`http://127.0.0.1:${other.port}`);
    for (let i = 0; i < 5; i++) expect(await (await otherPool("up", get(), never())).text()).toBe("other");
    expect(written).toBe(before);
    expect(written).toBeLessThan(total);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    let received = first.value?.byteLength ?? 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
    }
    expect(received).toBe(total);
  });
});

describe("what goes to fetch instead", () => {
  test("a request with a body, a POST, or an https upstream is handed to the fallback", async () => {
    const seen: string[] = [];
    const urls = new Map([
      ["plain", "http://127.0.0.1:9"],
      ["tls", "https://127.0.0.1:9"],
    ]);
    const pool = createPooledSend(urls, {
      fallback: async (upstream, request) => {
        seen.push(`${upstream} ${request.method}`);
        return new Response("via fallback");
      },
    });
    pools.push(pool);
    const body = new Blob(["x"]).stream();
    await pool("plain", { method: "PUT", url: "http://g/api/a", headers: new Headers(), body }, never());
    await pool("plain", { ...get(), method: "POST" }, never());
    await pool("tls", get(), never());
    expect(seen).toEqual(["plain PUT", "plain POST", "tls GET"]);
    expect(pool.stats().fallbacks).toBe(3);
    await expect(pool("nowhere", get(), never())).rejects.toThrow(/No URL for upstream nowhere/);
  });
});
