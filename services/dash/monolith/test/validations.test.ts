import { describe, expect, test } from "bun:test";
import { ARCHIVE_TENANTS, claimsFile, type Json, useMonolithApp } from "./helpers.ts";

const t = useMonolithApp();

type Run = Json & { validationId: string; status: string; rows: number | null; archived: boolean };
type Page<T> = { items: T[]; nextCursor: string | null };

describe("POST /api/validations (synchronous)", () => {
  test("validates the whole file inside the request: 200 with the finished run and every finding", async () => {
    const { csv, expected } = await claimsFile(400);
    const fileId = await t.upload(csv);
    const res = await t.request("/api/validations", { method: "POST", json: { fileId } });
    expect(res.status).toBe(200);
    const run = (await res.json()) as Run & { counts: { byRule: Record<string, number> } };
    expect(res.headers.get("location")).toBe(`/api/validations/${run.validationId}`);
    expect(run).toMatchObject({ fileId, status: "completed", rows: 400, archived: false });
    expect(run.counts.byRule).toEqual(expected.findings);
    expect(Object.values(expected.findings).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

    const again = (await (await t.request(`/api/validations/${run.validationId}`)).json()) as Run;
    expect(again).toEqual(run);
    const results = (await (
      await t.request(`/api/validations/${run.validationId}/results?limit=1000`)
    ).json()) as Page<{ ruleId: string; line: number }>;
    const byRule: Record<string, number> = {};
    for (const f of results.items) byRule[f.ruleId] = (byRule[f.ruleId] ?? 0) + 1;
    expect(byRule).toEqual(expected.findings);
    const csvRes = await t.request(`/api/validations/${run.validationId}/results.csv`);
    expect(csvRes.headers.get("content-type")).toStartWith("text/csv");
    expect((await csvRes.text()).trim().split("\n")).toHaveLength(results.items.length + 1);
  });

  test("an unusable header is a failed run (200), and a missing file a 404 on body.fileId", async () => {
    const fileId = await t.upload("a,b,c\n1,2,3\n");
    const res = await t.request("/api/validations", { method: "POST", json: { fileId } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "failed", archived: false });
    const missing = await t.request("/api/validations", {
      method: "POST",
      json: { fileId: crypto.randomUUID() },
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: { location: string }[] }).errors[0]?.location).toBe(
      "body.fileId",
    );
  });

  test("another tenant's file and run are invisible (row-level security)", async () => {
    expect(t.tdb.kind).toBe("postgres");
    const { csv } = await claimsFile(20);
    const fileId = await t.upload(csv, { tenant: "tenant-a" });
    const other = await t.request("/api/validations", {
      method: "POST",
      json: { fileId },
      tenant: "tenant-b",
    });
    expect(other.status).toBe(404);
    const mine = (await (
      await t.request("/api/validations", { method: "POST", json: { fileId }, tenant: "tenant-a" })
    ).json()) as Run;
    for (const path of ["", "/results", "/results.csv", "/events"])
      expect(
        (await t.request(`/api/validations/${mine.validationId}${path}`, { tenant: "tenant-b" })).status,
      ).toBe(404);
    const list = (await (await t.request("/api/validations", { tenant: "tenant-b" })).json()) as Page<Run>;
    expect(list.items).toEqual([]);
  });
});

describe("archived runs (history from before the migration)", () => {
  for (const tenant of ARCHIVE_TENANTS)
    test(`${tenant}: at least 50 archived runs, dated before the migration, each with findings`, async () => {
      const runs: Run[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `&cursor=${cursor}` : "";
        const res = await t.request(`/api/validations?limit=25${query}`, { tenant, roles: ["viewer"] });
        expect(res.status).toBe(200);
        const page = (await res.json()) as Page<Run & { timings: { queuedAt: string } }>;
        runs.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      const archived = runs.filter((r) => r.archived);
      expect(archived.length).toBeGreaterThanOrEqual(50);
      for (const run of archived) {
        expect((run as unknown as { timings: { queuedAt: string } }).timings.queuedAt < "2026-01-01").toBe(
          true,
        );
        const one = await t.request(`/api/validations/${run.validationId}`, { tenant, roles: ["viewer"] });
        expect(await one.json()).toMatchObject({
          validationId: run.validationId,
          archived: true,
          status: "completed",
        });
        const findings = (await (
          await t.request(`/api/validations/${run.validationId}/results`, { tenant, roles: ["viewer"] })
        ).json()) as Page<Json>;
        expect(findings.items.length).toBeGreaterThan(0);
      }
    });

  test("another tenant sees none of them", async () => {
    const list = (await (await t.request("/api/validations", { tenant: "nobody" })).json()) as Page<Run>;
    expect(list.items).toEqual([]);
  });
});
