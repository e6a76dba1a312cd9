/**
 * `bun run gate` as a subprocess against a real Bun.serve upstream: exit 0 on a healthy endpoint, 99 (k6's
 * ThresholdsHaveFailed) on one answering 10 % 500s, 98 when a threshold has no data, 104 on an invalid
 * threshold; and the --summary-export file in k6's shape plus the `fig` section.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { systemEnv } from "../src/config.ts";
import type { SummaryExport } from "../src/summary.ts";
import { startUpstream, type TestUpstream } from "./upstream.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const FIXTURE = fileURLToPath(new URL("./fixtures/gate.js", import.meta.url));
let upstream: TestUpstream;
let dir: string;

beforeAll(async () => {
  upstream = startUpstream();
  dir = await mkdtemp(join(tmpdir(), "fig-loadgate-cli-"));
});
afterAll(async () => {
  await upstream.stop();
  await rm(dir, { recursive: true, force: true });
});

async function gate(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(["bun", "run", "gate", ...args], {
    cwd: ROOT,
    env: { ...systemEnv(), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

async function summaryOf(file: string) {
  return (await Bun.file(file).json()) as SummaryExport;
}

describe("bun run gate: exit codes", () => {
  test("0 on a healthy endpoint; the table names the engine; the export is k6's shape + fig", async () => {
    const file = join(dir, "pass.json");
    const r = await gate(
      [FIXTURE, "--engine", "builtin", "--base-url", upstream.url, "--summary-export", file, "-q"],
      {
        TARGET: "ok",
      },
    );
    expect(r.stderr).not.toContain("threw");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("engine: builtin");
    expect(r.stdout).toContain("VERDICT: PASS (exit 0)");
    const s = await summaryOf(file);
    expect(Object.keys(s).sort()).toEqual(["fig", "metrics", "root_group"]);
    expect(s.root_group).toMatchObject({
      name: "",
      path: "",
      id: "d41d8cd98f00b204e9800998ecf8427e",
      groups: {},
    });
    const check = s.root_group.checks["status 200"];
    expect(check).toMatchObject({ name: "status 200", path: "::status 200", fails: 0 });
    expect(check?.passes).toBe(s.metrics.http_reqs?.count as number);
    expect(Object.keys(s.metrics.http_req_duration ?? {})).toEqual([
      "avg",
      "min",
      "med",
      "max",
      "p(90)",
      "p(95)",
      "thresholds",
    ]);
    expect(s.metrics.http_req_duration?.thresholds).toEqual({ "p(95)<500": false });
    expect(s.metrics.http_req_failed).toMatchObject({
      passes: 0,
      value: 0,
      thresholds: { "rate<0.01": false },
    });
    expect(s.metrics.http_reqs).toEqual({ count: expect.any(Number), rate: expect.any(Number) });
    expect(s.metrics.vus_max).toEqual({ value: 4, min: 4, max: 4 });
    expect(s.fig).toMatchObject({ engine: "builtin", verdict: "pass", exitCode: 0, aborted: null });
    expect(s.fig?.thresholds.http_req_failed?.["rate<0.01"]).toEqual({
      ok: true,
      inconclusive: false,
      value: 0,
      samples: s.metrics.http_reqs?.count as number,
    });
    expect(s.fig?.numbers.requests).toBe(s.metrics.http_reqs?.count as number);
  }, 30_000);

  test("99 when 10 % of answers are 500s; the export says which threshold failed (true = failed)", async () => {
    const file = join(dir, "fail.json");
    const r = await gate(
      [FIXTURE, "--engine", "builtin", "--base-url", upstream.url, "--summary-export", file, "-q"],
      {
        TARGET: "flaky",
      },
    );
    expect(r.code).toBe(99);
    expect(r.stdout).toContain("VERDICT: FAIL (exit 99)");
    const s = await summaryOf(file);
    expect(s.metrics.http_req_failed?.thresholds).toEqual({ "rate<0.01": true });
    expect(s.metrics.checks?.thresholds).toEqual({ "rate>0.99": true });
    const rate = s.metrics.http_req_failed?.value as number;
    // Exactly every 10th request the upstream saw was a 500; this run saw a share of them.
    expect(rate).toBeGreaterThan(0.05);
    expect(rate).toBeLessThan(0.15);
    expect(s.fig?.verdict).toBe("fail");
    expect(s.fig?.numbers.errorRate).toBe(rate);
  }, 30_000);

  test("98 (inconclusive) when a threshold's sub-metric gets no samples, though every other one passed", async () => {
    const file = join(dir, "nodata.json");
    const r = await gate(
      [FIXTURE, "--engine", "builtin", "--base-url", upstream.url, "--summary-export", file, "-q"],
      {
        TARGET: "ok",
        EXTRA_THRESHOLD: "http_req_duration{name:never-called}",
      },
    );
    expect(r.code).toBe(98);
    expect(r.stdout).toContain("no data");
    const s = await summaryOf(file);
    expect(s.fig?.thresholds["http_req_duration{name:never-called}"]?.["p(95)<500"]).toEqual({
      ok: false,
      inconclusive: true,
      value: null,
      samples: 0,
    });
    expect(s.fig?.thresholds.http_req_failed?.["rate<0.01"]?.ok).toBe(true);
    expect(s.metrics["http_req_duration{name:never-called}"]?.thresholds).toEqual({ "p(95)<500": true });
  }, 30_000);

  test("98 when the script sends nothing: empty http_req_failed and checks are not a pass", async () => {
    const r = await gate([FIXTURE, "--engine", "builtin", "--base-url", upstream.url, "-q"], {
      NO_REQUESTS: "1",
    });
    expect(r.code).toBe(98);
    expect(r.stdout).toContain("VERDICT: INCONCLUSIVE (exit 98)");
  }, 30_000);

  test("104 for an invalid threshold, 2 for a usage error", async () => {
    const bad = join(dir, "bad.js");
    await Bun.write(
      bad,
      'import http from "k6/http";\nexport const options = { thresholds: { http_req_failed: ["p(95)<1"] } };\nexport default async () => {};\n',
    );
    const r = await gate([bad, "--engine", "builtin", "-q"]);
    expect(r.code).toBe(104);
    expect(r.stderr).toContain("not an aggregation of a rate");
    expect((await gate([])).code).toBe(2);
    expect((await gate([FIXTURE, "--vus", "zero"])).code).toBe(2);
  }, 30_000);

  test("--pin becomes the x-fig-route header and --token the bearer (through __ENV in the script)", async () => {
    upstream.reset();
    const pinned = join(dir, "pinned.js");
    await Bun.write(
      pinned,
      [
        'import http from "k6/http";',
        "export const options = { thresholds: { http_reqs: ['count>0'] } };",
        "export default async function () {",
        "  const headers = { 'x-fig-route': __ENV.PIN, Authorization: 'Bearer ' + __ENV.TOKEN };",
        "  await http.asyncRequest('GET', __ENV.BASE_URL + '/ok', null, { headers });",
        "}",
      ].join("\n"),
    );
    const r = await gate([
      pinned,
      "--engine",
      "builtin",
      "--base-url",
      upstream.url,
      "--pin",
      "reference-data",
      "--token",
      "t0k",
      "-q",
    ]);
    expect(r.code).toBe(0);
    expect(upstream.headers[0]?.get("x-fig-route")).toBe("reference-data");
    expect(upstream.headers[0]?.get("authorization")).toBe("Bearer t0k");
  }, 30_000);
});
