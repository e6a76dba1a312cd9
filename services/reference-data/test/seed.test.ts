import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type Json, listAll, type Resource, SEED_DIR, useReferenceApp } from "./helpers.ts";

const t = useReferenceApp();

const seeds: [Resource, string, (count: number) => void][] = [
  ["codes", "code", (n) => expect(n).toBeGreaterThanOrEqual(300)],
  ["contexts", "code", (n) => expect(n).toBeGreaterThanOrEqual(30)],
  ["establishments", "number", (n) => expect(n).toBeGreaterThanOrEqual(100)],
  ["rules", "id", (n) => expect(n).toBe(14)],
];

describe("the committed seed CSVs", () => {
  for (const [resource, key, checkCount] of seeds) {
    describe(resource, () => {
      test(`POST /api/${resource}/import loads seed/${resource}.csv`, async () => {
        const file = Bun.file(join(SEED_DIR, `${resource}.csv`));
        const dataLines = (await file.text()).trimEnd().split("\n").length - 1;
        const res = await t.importCsv(resource, file.stream());
        expect(res.status).toBe(200);
        const result = (await res.json()) as Json;
        expect(result).toEqual({ rows: dataLines, inserted: dataLines, updated: 0, unchanged: 0 });
        const items = await listAll(t, `/api/${resource}`, key);
        expect(items).toHaveLength(dataLines);
        checkCount(items.length);
      });

      test("export → import round-trips: updated 0, unchanged all", async () => {
        const count = (await listAll(t, `/api/${resource}`, key)).length;
        const exported = await t.exportCsv(resource);
        const res = await t.importCsv(resource, exported);
        expect(await res.json()).toEqual({ rows: count, inserted: 0, updated: 0, unchanged: count });
      });

      test("importing the seed file again changes nothing", async () => {
        const file = Bun.file(join(SEED_DIR, `${resource}.csv`));
        const res = await t.importCsv(resource, await file.arrayBuffer());
        const result = (await res.json()) as Json;
        expect(result).toMatchObject({ inserted: 0, updated: 0 });
        expect(result.unchanged).toBe(result.rows);
      });
    });
  }

  test("seeded codes are searchable without accents", async () => {
    const found = await listAll(t, "/api/codes?q=acces", "code");
    expect(found.length).toBeGreaterThan(0);
    for (const code of found) expect(String(code.description).toLowerCase()).toMatch(/acc[eè]s/);
  });
});
