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

const seedFile = (resource: Resource) => Bun.file(join(SEED_DIR, `${resource}.csv`));
const seedLines = async (resource: Resource) =>
  (await seedFile(resource).text()).trimEnd().split("\n").length - 1;

/**
 * Each test stands on its own (run alone with -t, or in any order): it loads the seed itself and checks the
 * table holds exactly the seed, so a round trip over an empty table cannot pass.
 */
async function expectSeeded(resource: Resource, key: string, checkCount: (count: number) => void) {
  const res = await t.importCsv(resource, seedFile(resource).stream());
  expect(res.status).toBe(200);
  const items = await listAll(t, `/api/${resource}`, key);
  expect(items).toHaveLength(await seedLines(resource));
  checkCount(items.length);
  return items;
}

describe("the committed seed CSVs", () => {
  for (const [resource, key, checkCount] of seeds) {
    describe(resource, () => {
      test(`POST /api/${resource}/import loads seed/${resource}.csv`, async () => {
        const dataLines = await seedLines(resource);
        checkCount(dataLines);
        const before = (await listAll(t, `/api/${resource}`, key)).map((item) => item[key]);
        const res = await t.importCsv(resource, seedFile(resource).stream());
        expect(res.status).toBe(200);
        const result = (await res.json()) as Json;
        // Into this file's own fresh database, unless another test of this file loaded it first.
        expect(result).toEqual(
          before.length === 0
            ? { rows: dataLines, inserted: dataLines, updated: 0, unchanged: 0 }
            : { rows: dataLines, inserted: 0, updated: 0, unchanged: dataLines },
        );
        await expectSeeded(resource, key, checkCount);
      });

      test("export → import round-trips: updated 0, unchanged all, the same CSV again", async () => {
        const items = await expectSeeded(resource, key, checkCount);
        const exported = await t.exportCsv(resource);
        expect(exported.trimEnd().split("\n")).toHaveLength(items.length + 1);
        const res = await t.importCsv(resource, exported);
        expect(await res.json()).toEqual({
          rows: items.length,
          inserted: 0,
          updated: 0,
          unchanged: items.length,
        });
        expect(await t.exportCsv(resource)).toBe(exported);
      });

      test("importing the seed file again changes nothing", async () => {
        const items = await expectSeeded(resource, key, checkCount);
        const res = await t.importCsv(resource, await seedFile(resource).arrayBuffer());
        expect(await res.json()).toEqual({
          rows: items.length,
          inserted: 0,
          updated: 0,
          unchanged: items.length,
        });
        expect(await listAll(t, `/api/${resource}`, key)).toEqual(items);
      });
    });
  }

  test("seeded codes are searchable without accents", async () => {
    await expectSeeded("codes", "code", () => {});
    const found = await listAll(t, "/api/codes?q=acces", "code");
    expect(found.length).toBeGreaterThan(0);
    for (const code of found) expect(String(code.description).toLowerCase()).toMatch(/acc[eè]s/);
  });
});
