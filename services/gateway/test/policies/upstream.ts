import type { SendFn, UpstreamName } from "../../src/policies/types.ts";

export type Hit = { method: string; path: string; headers: Headers };

/** A real HTTP upstream on a free port whose answer the test sets, counting what it received. */
export type TestUpstream = {
  readonly url: string;
  readonly hits: Hit[];
  /** Requests whose `request.signal` aborted (the upstream saw the client, i.e. the gateway, give up). */
  readonly aborted: Hit[];
  /** Replace the handler; it may await `request.signal`. */
  handle(handler: (request: Request) => Response | Promise<Response>): void;
  /** Resolves when the upstream has seen `count` aborted requests. */
  abortedCount(count: number): Promise<void>;
  /** Resolves when the upstream has received `count` requests. */
  hitCount(count: number): Promise<void>;
  stop(): Promise<void>;
};

export function startUpstream(
  handler: (request: Request) => Response | Promise<Response> = () => new Response("ok"),
): TestUpstream {
  let current = handler;
  const hits: Hit[] = [];
  const aborted: Hit[] = [];
  const waiters: { list: Hit[]; count: number; resolve: () => void }[] = [];
  const notify = () => {
    for (const waiter of [...waiters]) {
      if (waiter.list.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const waitFor = (list: Hit[], count: number) =>
    new Promise<void>((resolve) => {
      waiters.push({ list, count, resolve });
      notify();
    });
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    fetch(request) {
      const hit = { method: request.method, path: new URL(request.url).pathname, headers: request.headers };
      hits.push(hit);
      request.signal.addEventListener("abort", () => {
        aborted.push(hit);
        notify();
      });
      notify();
      return current(request);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    hits,
    aborted,
    handle(next) {
      current = next;
    },
    abortedCount: (count) => waitFor(aborted, count),
    hitCount: (count) => waitFor(hits, count),
    stop: () => server.stop(true),
  };
}

/** A SendFn over real fetch: the request's path and query sent to the named upstream's base URL. */
export function sendTo(bases: Record<UpstreamName, string>): SendFn {
  return (upstream, request, signal) => {
    const base = bases[upstream];
    if (!base) throw new Error(`unknown upstream ${upstream}`);
    const url = new URL(request.url);
    return fetch(`${base}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
      redirect: "manual",
    });
  };
}

/** A port nothing listens on: fetch to it fails with a connection error. */
export async function closedPortUrl(): Promise<string> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const url = `http://127.0.0.1:${server.port}`;
  await server.stop(true);
  return url;
}

/** Polls `check` until it holds or the deadline passes (generous: machines differ several-fold). */
export async function until(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}
