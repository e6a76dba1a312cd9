import { describe, expect, test } from "bun:test";
import { outbox } from "@fig/events";
import { asc } from "drizzle-orm";
import { useReferenceApp } from "./helpers.ts";

const t = useReferenceApp();

async function outboxRows() {
  return t.tdb.db.select().from(outbox).orderBy(asc(outbox.seq));
}

const code = {
  code: "55501",
  description: "Visite de suivi",
  category: "visite",
  tariff_cents: 4200,
  unit: "acte",
  place_of_service: "both",
  requires_context: false,
  max_per_day: null,
  effective_from: "2020-01-01",
  effective_to: null,
  active: true,
};
const header =
  "code,description,category,tariff_cents,unit,place_of_service,requires_context,max_per_day,effective_from,effective_to,active";

describe("reference.changed goes through the outbox, in the write's transaction", () => {
  test("create, update and delete each record one event with the key; the W3C traceparent rides along", async () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    expect((await t.request("POST", "/api/codes", { json: code, headers: { traceparent } })).status).toBe(
      201,
    );
    const patched = await t.request("PATCH", "/api/codes/55501", {
      json: { tariff_cents: 4300 },
      headers: { "if-match": "*" },
    });
    expect(patched.status).toBe(200);
    expect((await t.request("DELETE", "/api/codes/55501")).status).toBe(204);
    const rows = await outboxRows();
    expect(
      rows.map((r) => [r.type, (r.data as { op: string }).op, (r.data as { keys: string[] }).keys]),
    ).toEqual([
      ["reference.changed", "created", ["55501"]],
      ["reference.changed", "updated", ["55501"]],
      ["reference.changed", "deleted", ["55501"]],
    ]);
    expect(rows[0]?.subject).toBe("codes/55501");
    expect(rows[0]?.traceparent).toStartWith("00-0af7651916cd43dd8448eb211c80319c-");
    expect(rows.every((r) => r.sent_at === null)).toBe(true);
  });

  test("a rejected write records no event", async () => {
    const before = (await outboxRows()).length;
    await t.request("POST", "/api/codes", { json: { ...code, code: "55502" } });
    expect((await t.request("POST", "/api/codes", { json: { ...code, code: "55502" } })).status).toBe(409);
    const stale = await t.request("PATCH", "/api/codes/55502", {
      json: { tariff_cents: 1 },
      headers: { "if-match": '"0-0"' },
    });
    expect(stale.status).toBe(412);
    expect((await outboxRows()).length).toBe(before + 1);
  });

  test("an import records one event with the changed keys; a rejected or no-op import records none", async () => {
    const before = (await outboxRows()).length;
    const csv = `${header}\n55601,Un,visite,100,acte,both,false,,2020-01-01,,true\n55602,Deux,visite,100,acte,both,false,,2020-01-01,,true\n`;
    expect((await t.importCsv("codes", csv)).status).toBe(200);
    expect((await t.importCsv("codes", csv)).status).toBe(200);
    expect(
      (await t.importCsv("codes", `${header}\n55603,Trois,visite,abc,acte,both,false,,2020-01-01,,true\n`))
        .status,
    ).toBe(422);
    const added = (await outboxRows()).slice(before);
    expect(added).toHaveLength(1);
    expect(added[0]?.data).toMatchObject({
      table: "codes",
      op: "imported",
      keys: ["55601", "55602"],
      count: 2,
      truncated: false,
      // The rows as stored, so the monolith can follow after the write-ownership flip (additive).
      rows: [
        { code: "55601", description: "Un", version: 1 },
        { code: "55602", description: "Deux", version: 1 },
      ],
      sequence: expect.any(Number),
    });
  });

  test("a large import carries a count instead of every key", async () => {
    const lines = Array.from(
      { length: 1500 },
      (_, i) => `${String(70000 + i)},Acte ${i},visite,100,acte,both,false,,2020-01-01,,true`,
    );
    expect((await t.importCsv("codes", `${header}\n${lines.join("\n")}\n`)).status).toBe(200);
    const last = (await outboxRows()).at(-1);
    expect(last?.data).toEqual({
      table: "codes",
      op: "imported",
      keys: [],
      count: 1500,
      truncated: true,
      rows: [],
      sequence: expect.any(Number),
    });
  });
});
