import { beforeAll, describe, expect, test } from "bun:test";
import {
  generatedClaims,
  nonZero,
  startPipeline,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 50 * 1024 * 1024 });

beforeAll(() => startPipeline(t));

describe("upload → 202 → completed", () => {
  test("5k generated rows: exact counts per rule, one CSV line per finding", async () => {
    const { bytes, expected, total } = await generatedClaims(t, 5000);
    const id = await validateCsv(t, bytes);
    const run = await waitForRun(t, id);
    expect(run.status).toBe("completed");
    expect(run.rows).toBe(5000);
    expect(run.progress).toEqual({ processedRows: 5000, percent: 100 });
    expect(run.counts.byRule).toEqual(nonZero(expected.findings));
    const csv = await (await t.request(`/api/validations/${id}/results.csv`, { roles: ["viewer"] })).text();
    expect(csv.trim().split("\n").length).toBe(total + 1);
  }, 60_000);

  test("empty file → completed with a single no-rows finding; unusable header → failed with a reason", async () => {
    const empty = await waitForRun(t, await validateCsv(t, ""));
    expect(empty.status).toBe("completed");
    expect(empty.counts.byRule).toEqual({ "no-rows": 1 });
    const bad = await waitForRun(t, await validateCsv(t, "foo,bar\n1,2\n"));
    expect(bad.status).toBe("failed");
    expect(bad.failureReason).toMatch(/column|header/i);
  }, 60_000);
});
