/**
 * A real HTTP upstream for the engine's tests: counts requests and the most in flight at once.
 *   /ok        200
 *   /flaky     500 for every 10th request (exactly 10 %), else 200
 *   /work      200 after `delayMs` (settable), the executor tests' unit of work
 */
export type TestUpstream = {
  url: string;
  received: number;
  inFlight: number;
  maxInFlight: number;
  delayMs: number;
  headers: Headers[];
  reset(): void;
  stop(): Promise<void>;
};

export function startUpstream(): TestUpstream {
  let flaky = 0;
  const state: TestUpstream = {
    url: "",
    received: 0,
    inFlight: 0,
    maxInFlight: 0,
    delayMs: 0,
    headers: [],
    reset() {
      state.received = 0;
      state.inFlight = 0;
      state.maxInFlight = 0;
      state.headers = [];
    },
    stop: async () => {
      await server.stop(true);
    },
  };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      state.received++;
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      if (state.headers.length < 50) state.headers.push(req.headers);
      try {
        if (path === "/work" && state.delayMs > 0) await Bun.sleep(state.delayMs);
        if (path === "/flaky")
          return ++flaky % 10 === 0 ? new Response("boom", { status: 500 }) : new Response("ok");
        if (path === "/ok" || path === "/work") return new Response("ok");
        return new Response("not found", { status: 404 });
      } finally {
        state.inFlight--;
      }
    },
  });
  state.url = `http://127.0.0.1:${server.port}`;
  return state;
}
