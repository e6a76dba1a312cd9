import { beforeAll, describe, expect, test } from "bun:test";
import { type ClaimsFileEncoding, streamClaims } from "@dash/billing";
import { Objm } from "@nats-io/obj";
import { count } from "drizzle-orm";
import { files, validations } from "../src/db/schema.ts";
import { bucketName } from "../src/domain/object-store.ts";
import { loadReferenceSnapshot } from "../src/domain/reference-model.ts";
import {
  expectProblem,
  json,
  nonZero,
  startPipeline,
  TODAY,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 10 * 1024 * 1024 });

beforeAll(() => startPipeline(t));

/** The same generated claims (seed, rows) as bytes in `encoding`; Excel's "Unicode text" is tab-delimited. */
async function claims(encoding: ClaimsFileEncoding, delimiter: ";" | "\t") {
  const reference = await loadReferenceSnapshot(t.tdb.db);
  const { stream, expected } = streamClaims({
    reference,
    rows: 2000,
    seed: 31,
    today: TODAY,
    encoding,
    delimiter,
  });
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  return { bytes, expected: await expected };
}

const resultsCsv = async (id: string) =>
  (await t.request(`/api/validations/${id}/results.csv`, { roles: ["viewer"] })).text();

/** What the upload left behind: metadata rows, runs and objects in the bucket. */
async function leftovers() {
  const [f] = await t.tdb.db.select({ n: count() }).from(files);
  const [v] = await t.tdb.db.select({ n: count() }).from(validations);
  const os = await new Objm(await t.nats.connection()).create(bucketName(t.namespace)); // opens it if it exists
  const objects = (await os.list()).filter((o) => !o.deleted).length;
  return { files: f?.n, validations: v?.n, objects };
}

describe("Excel's Unicode text export (UTF-16 with a BOM, tab-delimited): upload → run → completed", () => {
  let utf8Results: Promise<{ id: string; csv: string }>;
  beforeAll(() => {
    utf8Results = (async () => {
      const { bytes } = await claims("utf8", ";");
      const id = await validateCsv(t, new Uint8Array(bytes));
      expect((await waitForRun(t, id)).status).toBe("completed");
      return { id, csv: await resultsCsv(id) };
    })();
  });

  test("UTF-16LE (multipart): the same findings as the UTF-8 file", async () => {
    const { bytes, expected } = await claims("utf16le", "\t");
    expect([...bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    const id = await validateCsv(t, new Uint8Array(bytes));
    const run = await waitForRun(t, id);
    expect(run).toMatchObject({ status: "completed", rows: 2000, failureReason: null });
    expect(run.counts.byRule).toEqual(nonZero(expected.findings));
    expect(expected.errorRows).toBeGreaterThan(20);
    const csv = await resultsCsv(id);
    expect(csv).toBe((await utf8Results).csv);
    expect(csv.trim().split("\n").length).toBe(expected.errorRows + 1);
  }, 60_000);

  test("UTF-16BE (raw text/plain body, streamed): the same findings as the UTF-8 file", async () => {
    const { bytes, expected } = await claims("utf16be", "\t");
    expect([...bytes.subarray(0, 2)]).toEqual([0xfe, 0xff]);
    const upload = await t.request("/api/files?name=export.txt", {
      method: "POST",
      body: bytes,
      headers: { "content-type": "text/plain; charset=utf-16" },
    });
    expect(upload.status).toBe(201);
    const { fileId, bytes: size } = (await upload.json()) as { fileId: string; bytes: number };
    expect(size).toBe(bytes.length);
    const queued = await t.request("/api/validations", json({ fileId }));
    expect(queued.status).toBe(202);
    const { validationId } = (await queued.json()) as { validationId: string };
    const run = await waitForRun(t, validationId);
    expect(run).toMatchObject({ status: "completed", rows: 2000 });
    expect(run.counts.byRule).toEqual(nonZero(expected.findings));
    expect(await resultsCsv(validationId)).toBe((await utf8Results).csv);
  }, 60_000);
});

describe("binary or undelimited content is refused at upload; nothing is left behind", () => {
  const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52];
  const ZIP = [0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0x06, 0, 0x08, 0, 0, 0, 0x21, 0];
  const padded = (magic: number[]) => new Uint8Array([...magic, ...new Uint8Array(4096).fill(7)]);

  test("a PNG named .csv (multipart) → 415 naming the format", async () => {
    const before = await leftovers();
    const res = await t.upload(padded(PNG), { name: "claims.csv" });
    const problem = await expectProblem(res, 415);
    expect(problem.detail).toMatch(/binary.*NUL byte.*PNG.*Nothing was stored/);
    expect(await leftovers()).toEqual(before);
  });

  test("a ZIP (an .xlsx) as a raw text/csv body → 415", async () => {
    const before = await leftovers();
    const res = await t.request("/api/files?name=claims.csv", {
      method: "POST",
      body: padded(ZIP),
      headers: { "content-type": "text/csv" },
    });
    const problem = await expectProblem(res, 415);
    expect(problem.detail).toMatch(/ZIP.*xlsx/);
    expect(await leftovers()).toEqual(before);
  });

  test("UTF-16 without its BOM → 415 that says how to export", async () => {
    const { bytes } = await claims("utf16le", "\t");
    const res = await t.upload(new Uint8Array(bytes.subarray(2)), { name: "export.csv" });
    expect((await expectProblem(res, 415)).detail).toMatch(/Unicode text/);
  });

  test("text whose first line has no delimiter → 422 quoting the line", async () => {
    const before = await leftovers();
    const res = await t.upload(new TextEncoder().encode("%PDF-1.7\n%âãÏÓ\n1 0 obj\n"), { name: "scan.csv" });
    const problem = await expectProblem(res, 422);
    expect(problem.detail).toContain('"%PDF-1.7"');
    expect(problem.detail).toMatch(/no delimiter/);
    expect(await leftovers()).toEqual(before);
  });

  test("an empty upload is still accepted (its run reports no rows)", async () => {
    expect((await t.upload(new Uint8Array(0))).status).toBe(201);
  });
});
