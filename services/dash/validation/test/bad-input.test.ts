import { beforeAll, describe, expect, test } from "bun:test";
import { MALFORMED_LINE } from "@dash/billing";
import { encodeCursor } from "@fig/service";
import { sql } from "drizzle-orm";
import {
  expectProblem,
  generatedClaims,
  json,
  locationsOf,
  query,
  type RunView,
  startPipeline,
  uploadFile,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 8 * 1024 * 1024 });

type Finding = { line: number; ruleId: string; severity: string; column: string | null; message: string };
type Page = { items: Finding[]; nextCursor: string | null };

beforeAll(async () => {
  await startPipeline(t);
}, 30_000);

async function findings(id: string, query = "", limit = 1000): Promise<Finding[]> {
  const all: Finding[] = [];
  let cursor: string | null = null;
  do {
    const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const res = await t.request(`/api/validations/${id}/results?limit=${limit}${query}${suffix}`, {
      roles: ["viewer"],
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    expect(page.items.length).toBeLessThanOrEqual(limit);
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

describe("bad files: the run says what is wrong, loses nothing and never errors", () => {
  test("empty file → completed with a single no-rows finding", async () => {
    const id = await validateCsv(t, "");
    const run = await waitForRun(t, id);
    expect(run).toMatchObject({ status: "completed", rows: 0, failureReason: null });
    expect(run.counts).toEqual({ bySeverity: { error: 1, warning: 0, info: 0 }, byRule: { "no-rows": 1 } });
    expect(await findings(id)).toEqual([
      { line: 0, ruleId: "no-rows", severity: "error", column: null, message: expect.any(String) },
    ]);
  }, 30_000);

  test("a header and no data rows → completed with a single no-rows finding", async () => {
    const { bytes } = await generatedClaims(t, 0);
    const run = await waitForRun(t, await validateCsv(t, bytes));
    expect(run).toMatchObject({ status: "completed", rows: 0 });
    expect(run.counts.byRule).toEqual({ "no-rows": 1 });
  }, 30_000);

  test("unusable headers → failed with a reason that names the problem; no findings", async () => {
    const cases: [string, RegExp][] = [
      ["foo,bar\n1,2\n", /missing required column/i],
      ["No facture;No ligne;No facture\n1;1;1\n", /missing required column|named twice/i],
      ['"No facture;No ligne\n', /header line cannot be read/i],
    ];
    for (const [csv, reason] of cases) {
      const id = await validateCsv(t, csv);
      const run = await waitForRun(t, id);
      expect({ csv, status: run.status, reason: run.failureReason }).toEqual({
        csv,
        status: "failed",
        reason: expect.stringMatching(reason),
      });
      expect(await findings(id)).toEqual([]);
    }
  }, 30_000);

  test("ragged and malformed lines → one malformed-line finding each; every other line is read; completed", async () => {
    const { bytes } = await generatedClaims(t, 40, { seed: 11, errorRate: 0 });
    const lines = new TextDecoder().decode(bytes).split("\r\n");
    expect(lines.pop()).toBe("");
    const plain = (i: number) => {
      // A data line without quotes, so a field-level edit is simple.
      let at = i;
      while ((lines[at] as string).includes('"')) at++;
      return at;
    };
    const fields = (i: number) => (lines[i] as string).split(";");
    const edits: [number, (f: string[]) => string, RegExp, string | null][] = [
      [plain(2), (f) => f.slice(0, -1).join(";"), /Expected 16 fields.*found 15/, null],
      [plain(5), (f) => [...f, "extra"].join(";"), /Expected 16 fields.*found 17/, null],
      [plain(8), (f) => [`"${f[0]}"x`, ...f.slice(1)].join(";"), /Malformed CSV: unexpected character/, null],
      [
        plain(12),
        (f) => f.map((v, i) => (i === 6 ? "2026-02-30" : v)).join(";"),
        /Date de service/,
        "service_date",
      ],
      [plain(16), (f) => ["", ...f.slice(1)].join(";"), /No facture.*is empty/, "invoice_number"],
      [plain(20), (f) => f.map((v, i) => (i === 10 ? "douze" : v)).join(";"), /Montant/, "amount_cents"],
    ];
    const expected: Record<number, { message: RegExp; column: string | null }> = {};
    for (const [index, edit, message, column] of edits) {
      lines[index] = edit(fields(index));
      expected[index + 1] = { message, column };
    }
    // A blank line is skipped (it still counts as a physical line), and an unterminated quote at the end of
    // the file is reported on the line it starts.
    lines.splice(25, 0, "");
    lines.push('"8043199999;1;AAAA00000000');
    const last = lines.length;
    const csv = `${lines.join("\r\n")}`;

    const id = await validateCsv(t, csv);
    const run = await waitForRun(t, id);
    expect(run.status).toBe("completed");
    expect(run.rows).toBe(40 + 1);
    expect(run.counts.byRule).toEqual({ [MALFORMED_LINE]: edits.length + 1 });

    const found = await findings(id);
    expect(found.every((f) => f.ruleId === MALFORMED_LINE && f.severity === "error")).toBe(true);
    const shifted = Object.entries(expected).map(([line, e]) => {
      const n = Number(line);
      return { line: n > 25 ? n + 1 : n, ...e };
    });
    expect(found.map((f) => f.line)).toEqual([...shifted.map((e) => e.line), last]);
    for (const e of shifted) {
      const f = found.find((x) => x.line === e.line);
      expect({ line: e.line, message: f?.message, column: f?.column }).toEqual({
        line: e.line,
        message: expect.stringMatching(e.message),
        column: e.column,
      });
    }
    expect(found.at(-1)?.message).toMatch(/unterminated quoted field/);
  }, 30_000);
});

describe("bad requests: 4xx problem+json, never 500", () => {
  let fileId: string;
  beforeAll(async () => {
    fileId = await uploadFile(t, "No facture;No ligne\n");
  });

  test("unknown fileId → 404 at body.fileId", async () => {
    const problem = await expectProblem(
      await t.request("/api/validations", json({ fileId: crypto.randomUUID() })),
      404,
    );
    expect(locationsOf(problem)).toEqual(["body.fileId"]);
  });

  test("another tenant's fileId → 404, exactly like an unknown one", async () => {
    const problem = await expectProblem(
      await t.request("/api/validations", { ...json({ fileId }), tenant: "initech" }),
      404,
    );
    expect(locationsOf(problem)).toEqual(["body.fileId"]);
  });

  test("malformed or missing fileId → 400 at body.fileId; malformed JSON → 400", async () => {
    for (const body of [{ fileId: "not-a-uuid" }, { fileId: 42 }, {}, { fileId: `${fileId}x` }]) {
      const problem = await expectProblem(await t.request("/api/validations", json(body)), 400);
      expect({ body, locations: locationsOf(problem) }).toEqual({ body, locations: ["body.fileId"] });
    }
    await expectProblem(await t.request("/api/validations", { ...json({}), body: '{"fileId":' }), 400);
  });

  test("malformed validation id in the path → 400 at path.id, on every route", async () => {
    for (const suffix of ["", "/results", "/results.csv", "/events"]) {
      for (const id of ["not-a-uuid", "1", "00000000-0000-4000-8000-00000000000g"]) {
        const problem = await expectProblem(
          await t.request(`/api/validations/${id}${suffix}`, { roles: ["viewer"] }),
          400,
        );
        expect({ suffix, id, locations: locationsOf(problem) }).toEqual({
          suffix,
          id,
          locations: ["path.id"],
        });
      }
    }
  });

  test("bad query parameters → 400 at the parameter", async () => {
    const id = await validateCsv(t, "");
    const cases: [string, string][] = [
      [`/api/validations/${id}/results?severity=fatal`, "query.severity"],
      [`/api/validations/${id}/results.csv?severity=fatal`, "query.severity"],
      [`/api/validations/${id}/results?lineFrom=-1`, "query.lineFrom"],
      [`/api/validations/${id}/results?lineTo=abc`, "query.lineTo"],
      [`/api/validations/${id}/results?limit=0`, "query.limit"],
      [`/api/validations/${id}/results?limit=1001`, "query.limit"],
      [`/api/validations/${id}/results?rule=${"x".repeat(81)}`, "query.rule"],
      ["/api/validations?status=done", "query.status"],
      ["/api/validations?limit=abc", "query.limit"],
    ];
    for (const [path, location] of cases) {
      const problem = await expectProblem(await t.request(path, { roles: ["viewer"] }), 400);
      expect({ path, locations: locationsOf(problem) }).toEqual({ path, locations: [location] });
    }
  });

  test("invalid cursors → 400 at query.cursor", async () => {
    const id = await validateCsv(t, "");
    const cursors = {
      garbage: "!!!not-base64!!!",
      notJson: btoa("not json"),
      listCursorToResults: encodeCursor([new Date().toISOString(), crypto.randomUUID()]),
      fraction: encodeCursor(1.5),
      string: encodeCursor("12"),
    };
    for (const [kind, cursor] of Object.entries(cursors)) {
      const problem = await expectProblem(
        await t.request(`/api/validations/${id}/results?cursor=${encodeURIComponent(cursor)}`, {
          roles: ["viewer"],
        }),
        400,
      );
      expect({ kind, locations: locationsOf(problem) }).toEqual({ kind, locations: ["query.cursor"] });
    }
    for (const [kind, cursor] of Object.entries({
      garbage: "%%%",
      resultsCursorToList: encodeCursor(5),
      oneElement: encodeCursor(["2026-01-01T00:00:00.000Z"]),
    })) {
      const problem = await expectProblem(
        await t.request(`/api/validations?cursor=${encodeURIComponent(cursor)}`, { roles: ["viewer"] }),
        400,
      );
      expect({ kind, locations: locationsOf(problem) }).toEqual({ kind, locations: ["query.cursor"] });
    }
  });

  // BUG: isSeq (src/domain/validations.ts:148) accepts any integer, so a seq beyond int4 reaches Postgres
  // (`seq > $n` on an integer column) and fails with 22003 → 500.
  test("a results cursor holding a seq beyond the integer range → 400 at query.cursor, not 500", async () => {
    const id = await validateCsv(t, "");
    const res = await t.request(`/api/validations/${id}/results?cursor=${encodeCursor(2 ** 40)}`, {
      roles: ["viewer"],
    });
    expect(locationsOf(await expectProblem(res, 400))).toEqual(["query.cursor"]);
  });

  // BUG: isListCursor (src/domain/validations.ts:90) only checks "two strings": a non-date makes
  // `new Date(after[0])` an Invalid Date and a non-uuid id fails the uuid comparison in Postgres → 500.
  test("a list cursor of two strings that are not [timestamp, uuid] → 400 at query.cursor, not 500", async () => {
    const statuses: Record<string, number> = {};
    for (const value of [
      ["garbage", "garbage"],
      [new Date().toISOString(), "garbage"],
      ["garbage", crypto.randomUUID()],
    ]) {
      const res = await t.request(`/api/validations?cursor=${encodeCursor(value)}`, { roles: ["viewer"] });
      statuses[JSON.stringify(value)] = res.status;
      await res.arrayBuffer();
    }
    expect(statuses).toEqual(Object.fromEntries(Object.keys(statuses).map((k) => [k, 400])));
  });

  // BUG: lineFrom/lineTo have no upper bound (packages/dash/billing-validation/src/validations.ts); Postgres rejects
  // a value beyond int4 for the integer `line` column → 500 on /results, and a 200 whose body then breaks on
  // /results.csv.
  test("lineFrom/lineTo beyond the integer range → 400 at the parameter, not 500", async () => {
    const id = await validateCsv(t, "");
    const outcomes: { path: string; status: number; body: string }[] = [];
    for (const suffix of ["/results", "/results.csv"]) {
      for (const param of ["lineFrom", "lineTo"]) {
        const path = `${suffix}?${param}=99999999999`;
        const res = await t.request(`/api/validations/${id}${path}`, { roles: ["viewer"] });
        const body = await res
          .text()
          .catch((error: Error) => `(body failed: ${error.message.split("\n")[0]})`);
        outcomes.push({ path, status: res.status, body: body.slice(0, 120) });
      }
    }
    expect(outcomes).toEqual(outcomes.map((o) => ({ ...o, status: 400 })));
  });

  // BUG: `rule` (packages/dash/billing-validation/src/validations.ts) and the upload's `name`
  // (packages/dash/billing-validation/src/files.ts) accept a NUL character, which Postgres text cannot hold (22021) → 500. reference-data refuses NUL with a 400.
  test("a NUL character in ?rule= or an upload's ?name= → 400, not 500", async () => {
    const id = await validateCsv(t, "");
    const rule = await t.request(`/api/validations/${id}/results?rule=a%00b`, { roles: ["viewer"] });
    const name = await t.request("/api/files?name=a%00b.csv", {
      method: "POST",
      body: "No facture\n",
      headers: { "content-type": "text/csv" },
    });
    expect({ rule: rule.status, name: name.status }).toEqual({ rule: 400, name: 400 });
  });
});

describe("results: filters and cursor pagination", () => {
  let id: string;
  let run: RunView;
  let all: Finding[];
  beforeAll(async () => {
    const { bytes, expected } = await generatedClaims(t, 3000, { seed: 5 });
    id = await validateCsv(t, bytes);
    run = await waitForRun(t, id);
    expect(run.status).toBe("completed");
    expect(run.counts.byRule).toEqual(
      Object.fromEntries(Object.entries(expected.findings).filter(([, n]) => n)),
    );
    all = await findings(id);
  }, 30_000);

  test("a small page size walks every finding exactly once, in line order", async () => {
    const total = Object.values(run.counts.byRule).reduce((a, b) => a + b, 0);
    expect(all).toHaveLength(total);
    const walked = await findings(id, "", 7);
    expect(walked).toEqual(all);
    const lines = walked.map((f) => f.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    const keys = walked.map((f) => `${f.line}|${f.ruleId}|${f.message}`);
    expect(new Set(keys).size).toBe(keys.length);
  }, 30_000);

  test("severity filter: only that severity, as many as the run counted", async () => {
    for (const severity of ["error", "warning", "info"] as const) {
      const only = await findings(id, `&severity=${severity}`, 13);
      expect(only.every((f) => f.severity === severity)).toBe(true);
      expect(only).toHaveLength(run.counts.bySeverity[severity] ?? 0);
      expect(only).toEqual(all.filter((f) => f.severity === severity));
    }
  }, 30_000);

  test("rule filter: exactly that rule's findings; an unknown rule → empty page", async () => {
    for (const [rule, n] of Object.entries(run.counts.byRule)) {
      const only = await findings(id, `&rule=${encodeURIComponent(rule)}`, 5);
      expect({ rule, n: only.length }).toEqual({ rule, n });
      expect(only).toEqual(all.filter((f) => f.ruleId === rule));
    }
    expect(await findings(id, "&rule=no-such-rule")).toEqual([]);
  }, 30_000);

  test("line range: inclusive bounds; combined with severity and a cursor walk", async () => {
    const from = 500;
    const to = 1500;
    const inRange = all.filter((f) => f.line >= from && f.line <= to);
    expect(inRange.length).toBeGreaterThan(0);
    expect(await findings(id, `&lineFrom=${from}&lineTo=${to}`, 4)).toEqual(inRange);
    const edge = all[Math.floor(all.length / 2)] as Finding;
    expect(await findings(id, `&lineFrom=${edge.line}&lineTo=${edge.line}`)).toEqual(
      all.filter((f) => f.line === edge.line),
    );
    expect(await findings(id, `&lineFrom=${from}&lineTo=${to}&severity=error`, 3)).toEqual(
      inRange.filter((f) => f.severity === "error"),
    );
    expect(await findings(id, `&lineFrom=${to}&lineTo=${from}`)).toEqual([]);
  }, 30_000);

  test("results.csv takes the same filters and streams the same rows", async () => {
    const res = await t.request(`/api/validations/${id}/results.csv?severity=warning&lineFrom=100`, {
      roles: ["viewer"],
    });
    expect(res.status).toBe(200);
    const rows = (await res.text()).trim().split("\n");
    expect(rows[0]).toBe("line,rule_id,severity,column,message");
    const expected = all.filter((f) => f.severity === "warning" && f.line >= 100);
    expect(rows.length - 1).toBe(expected.length);
    expect(rows.slice(1).map((r) => Number(r.split(",")[0]))).toEqual(expected.map((f) => f.line));
  }, 30_000);
});

describe("runs list: cursor pagination", () => {
  // The cursor carries queued_at as a JS Date (milliseconds); the column is timestamp(3) so they compare
  // equal, and ties within one millisecond are broken by id: every run is listed exactly once.
  test("runs queued within the same millisecond are each listed once", async () => {
    const tenant = "pager";
    const fileId = await uploadFile(t, "No facture,No ligne\n", tenant);
    const ids = Array.from({ length: 5 }, () => crypto.randomUUID());
    for (const [i, id] of ids.entries()) {
      await query(
        t.tdb.db,
        sql`insert into validations (id, tenant_id, file_id, status, total_bytes, requested_by, queued_at)
            values (${id}, ${tenant}, ${fileId}, 'queued', 11, 'test',
                    ${`2026-01-01T00:00:00.1234${i}0Z`}::timestamptz)`,
      );
    }
    const listed: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const res = await t.request(`/api/validations?limit=2${suffix}`, { tenant, roles: ["viewer"] });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: RunView[]; nextCursor: string | null };
      listed.push(...page.items.map((v) => v.validationId));
      cursor = page.nextCursor;
    } while (cursor && ++pages < 10);
    expect(listed).toHaveLength(ids.length);
    // Ties on queued_at are ordered by id, newest-first's tie-break: descending.
    expect(listed).toEqual([...ids].sort().reverse());
  });

  test("runs queued at different times walk once, newest first", async () => {
    const tenant = "walker";
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await validateCsv(t, "", tenant));
    // Queued through the API, possibly within one millisecond on a fast machine: give them the distinct times
    // this test is about (one second apart, in the order they were queued).
    for (const [i, id] of ids.entries()) {
      await query(
        t.tdb.db,
        sql`update validations set queued_at = ${`2026-02-01T00:00:0${i}.000Z`}::timestamptz where id = ${id}`,
      );
    }
    const listed: string[] = [];
    const archived: unknown[] = [];
    let cursor: string | null = null;
    do {
      const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const res = await t.request(`/api/validations?limit=2${suffix}`, { tenant, roles: ["viewer"] });
      const page = (await res.json()) as {
        items: (RunView & { archived: unknown })[];
        nextCursor: string | null;
      };
      listed.push(...page.items.map((v) => v.validationId));
      archived.push(...page.items.map((v) => v.archived));
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed).toEqual([...ids].reverse());
    // Only the monolith holds an archive: a run made here says so, as the gateway's merged list needs.
    expect(archived).toEqual(ids.map(() => false));
  });
});
