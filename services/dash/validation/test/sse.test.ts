import { beforeAll, describe, expect, test } from "bun:test";
import {
  generatedClaims,
  type RunView,
  startPipeline,
  startWorker,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 16 * 1024 * 1024 });
let base: string;

type SseEvent = { event: string; data: RunView; id: string | undefined };

beforeAll(async () => {
  // The relay only: each test starts the worker when it wants the run to move.
  await startPipeline(t, { worker: false });
  // A real socket, with Bun's default idle timeout, as serveApp listens.
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
  t.defer(() => server.stop(true));
  base = `http://127.0.0.1:${server.port}`;
}, 30_000);

async function openEvents(id: string, timeoutMs: number): Promise<Response> {
  const token = await t.auth.token({ tenant: "acme", roles: ["viewer"] });
  const res = await fetch(`${base}/api/validations/${id}/events`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    signal: AbortSignal.timeout(timeoutMs),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/event-stream");
  expect(res.headers.get("cache-control")).toBe("no-cache");
  return res;
}

/** Server-sent events as they arrive (comments skipped); returns when the server closes the stream. */
async function* sseEvents(res: Response): AsyncGenerator<SseEvent> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        let event = "message";
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const [field, ...rest] = line.split(":");
          const value = rest.join(":").replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
        if (data.length > 0) yield { event, data: JSON.parse(data.join("\n")), id };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

describe("GET /api/validations/{id}/events over a real socket", () => {
  test("progress events while the run moves, then one `completed` event, then the stream closes", async () => {
    const rows = 4500;
    const every = 1000;
    const { bytes } = await generatedClaims(t, rows, { seed: 21 });
    const id = await validateCsv(t, bytes);
    const events = sseEvents(await openEvents(id, 60_000));

    // The first event is the run as it is now: queued (no worker yet).
    const first = await events.next();
    expect(first.done).toBe(false);
    const seen = [first.value as SseEvent];
    expect(seen[0]).toMatchObject({ event: "progress", data: { validationId: id, status: "queued" } });

    // The worker holds after each progress update until this stream has shown it: every step is seen, on a
    // fast machine as on a slow one. Bounded, so a step that never shows fails below instead of hanging.
    const shown = new Map<number, ReturnType<typeof Promise.withResolvers<void>>>();
    const shownAt = (processedRows: number) => {
      const step = shown.get(processedRows) ?? Promise.withResolvers<void>();
      shown.set(processedRows, step);
      return step;
    };
    const worker = await startWorker(t, {
      progressEveryRows: every,
      afterProgress: async ({ validationId, processedRows }) => {
        if (validationId === id) await Promise.race([shownAt(processedRows).promise, Bun.sleep(20_000)]);
      },
    });
    try {
      for await (const event of events) {
        seen.push(event);
        shownAt(event.data.progress.processedRows).resolve();
      }
    } finally {
      await worker.stop();
    }

    // The loop ended because the server closed the stream, right after the terminal event.
    const last = seen.at(-1) as SseEvent;
    expect(last.event).toBe("completed");
    expect(last.data).toMatchObject({
      status: "completed",
      rows,
      progress: { processedRows: rows, percent: 100 },
    });
    expect(last.data).toEqual((await waitForRun(t, id)) as unknown as RunView);
    const progress = seen.slice(0, -1);
    expect(progress.every((e) => e.event === "progress")).toBe(true);
    // Every step the worker took, in order: 1000, 2000, 3000, 4000 rows, each while still processing.
    const partial = progress.filter(
      (e) =>
        e.data.status === "processing" &&
        e.data.progress.processedRows > 0 &&
        e.data.progress.processedRows < rows,
    );
    expect(partial.map((e) => e.data.progress.processedRows)).toEqual([1000, 2000, 3000, 4000]);
    expect(partial.every((e) => e.data.progress.percent > 0 && e.data.progress.percent < 100)).toBe(true);
    const processed = seen.map((e) => e.data.progress.processedRows);
    expect(processed).toEqual([...processed].sort((a, b) => a - b));
    const percents = seen.map((e) => e.data.progress.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(seen.map((e) => e.id)).toEqual(processed.map(String));
    // An event is sent only when the run changed.
    const snapshots = seen.map((e) => JSON.stringify(e.data));
    expect(new Set(snapshots).size).toBe(snapshots.length);
  }, 60_000);

  test("an already completed run: exactly one `completed` event, then the stream closes", async () => {
    const worker = await startWorker(t);
    try {
      const id = await validateCsv(t, "");
      const run = await waitForRun(t, id);
      expect(run.status).toBe("completed");
      const seen: SseEvent[] = [];
      for await (const event of sseEvents(await openEvents(id, 10_000))) seen.push(event);
      expect(seen).toEqual([{ event: "completed", data: run, id: "0" }]);
    } finally {
      await worker.stop();
    }
  }, 30_000);

  test("a failed run: exactly one `failed` event with the reason, then the stream closes", async () => {
    const worker = await startWorker(t);
    try {
      const id = await validateCsv(t, "foo,bar\n1,2\n");
      const run = await waitForRun(t, id);
      expect(run.status).toBe("failed");
      const seen: SseEvent[] = [];
      for await (const event of sseEvents(await openEvents(id, 10_000))) seen.push(event);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({
        event: "failed",
        data: { status: "failed", failureReason: run.failureReason },
      });
    } finally {
      await worker.stop();
    }
  }, 30_000);

  // The SSE loop writes only when the run changes; a run that stays queued longer than Bun.serve's idle
  // timeout (10 s by default, as this test's server) would have its connection reset without the keep-alive
  // comment the handler sends every few seconds. 11 s is a lower bound on the quiet spell, not a speed goal.
  test("a run that stays queued longer than the server's idle timeout keeps its stream open", async () => {
    const id = await validateCsv(t, "");
    const events = sseEvents(await openEvents(id, 30_000));
    const first = await events.next();
    expect(first.value).toMatchObject({ event: "progress", data: { status: "queued" } });
    // Nothing changes for 11 s (no worker): the stream must survive the quiet spell.
    const quiet = events.next();
    const outcome = await Promise.race([
      quiet.then(
        (r) => (r.done ? "closed" : `event ${r.value.event}`),
        (error: Error) => `failed: ${error.message.split("\n")[0]}`,
      ),
      Bun.sleep(11_000).then(() => "open"),
    ]);
    expect(outcome).toBe("open");
    const worker = await startWorker(t);
    try {
      const next = await quiet;
      const rest = [next.value as SseEvent];
      for await (const event of events) rest.push(event);
      expect(rest.at(-1)?.event).toBe("completed");
    } finally {
      await worker.stop();
    }
  }, 40_000);
});
