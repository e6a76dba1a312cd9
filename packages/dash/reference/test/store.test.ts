import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AppError, DomainError } from "@fig/service";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { REFERENCE_CHANGED_MAX_KEYS } from "../src/event-catalog.ts";
import {
  codesSpec,
  contextsSpec,
  createRecord,
  deleteRecord,
  etagOf,
  getRecord,
  listRecords,
  type RecordChange,
  type Row,
  referenceChangeRecorder,
  StaleWriteError,
  type StoreContext,
  updateRecord,
} from "../src/index.ts";
import { outboxEvents, REFERENCE_MIGRATIONS, SAMPLES } from "./helpers.ts";

// The store verbs straight on a real database, with the recorder both publishers use (rows in the event).
let tdb: TestDatabase;
let ctx: StoreContext;

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "reference-store", migrationsFolder: REFERENCE_MIGRATIONS });
  ctx = { db: tdb.db, recordChange: referenceChangeRecorder({ withRows: true }) };
});
afterAll(() => tdb?.drop());

/** The DomainError a promise rejects with (fails the test if it resolves or throws something else). */
async function domainError(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

const eventsFor = async (resource: string, key: string) =>
  (await outboxEvents(tdb.db)).filter((e) => e.subject === `${resource}/${key}`);

describe.each(SAMPLES)("$spec.resource: the store verbs", ({ spec, input, patch }) => {
  test("create, get, update with the current ETag, delete: each one changes the row and records one event", async () => {
    const row = input(1);
    const key = String(row[spec.key]);

    const created = await createRecord(ctx, spec, row);
    expect(created).toMatchObject({ ...row, version: 1 });
    expect(created).not.toHaveProperty("search_text");
    expect(await getRecord(ctx, spec, key)).toEqual(created);

    const updated = await updateRecord(ctx, spec, key, patch, etagOf(created));
    expect(updated).toMatchObject({ ...row, ...patch, version: 2 });
    expect(etagOf(updated)).not.toBe(etagOf(created));
    expect(await getRecord(ctx, spec, key)).toEqual(updated);

    await deleteRecord(ctx, spec, key);
    expect((await domainError(getRecord(ctx, spec, key))).kind).toBe("not_found");

    const events = await eventsFor(spec.resource, key);
    expect(events.map((e) => e.data.op)).toEqual(["created", "updated", "deleted"]);
    for (const e of events) {
      expect(e.type).toBe("reference.changed");
      expect(e.data).toMatchObject({ table: spec.resource, keys: [key], count: 1, truncated: false });
    }
    // Each event carries the row as written, with the version another copy orders by.
    const rows = events.map((e) => (e.data.rows as Row[])[0]);
    expect(rows.map((r) => r?.version)).toEqual([1, 2, 2]);
    expect(rows[1]).toMatchObject(patch);
    const sequences = events.map((e) => Number(e.data.sequence));
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(3);
  });

  test("the write and its event in one statement record the same event as the write, then the recorder", async () => {
    const recorder = referenceChangeRecorder({ withRows: true });
    // The same recorder without its one-statement path: the store writes, then records from the returned row.
    const twoStep: RecordChange = (tx, change, traceparent) => recorder(tx, change, traceparent);
    // The same key through both paths, one after the other (the delete frees the key for the second create).
    const row = input(77);
    const key = String(row[spec.key]);
    for (const store of [
      { db: tdb.db, recordChange: recorder },
      { db: tdb.db, recordChange: twoStep },
    ]) {
      const created = await createRecord(store, spec, row);
      expect(await getRecord(store, spec, key)).toEqual(created);
      const updated = await updateRecord(store, spec, key, patch, "*");
      expect(await getRecord(store, spec, key)).toEqual(updated);
      await deleteRecord(store, spec, key);
    }
    expect(recorder.withWrite).toBeFunction();
    // What each event says, but for the write time and sequence, which both paths take when they run.
    const said = (await eventsFor(spec.resource, key)).map(({ data }) => ({
      ...data,
      sequence: typeof data.sequence,
      rows: (data.rows as Row[]).map(({ updated_at, ...r }) => {
        expect(updated_at).toBe(new Date(String(updated_at)).toISOString());
        return r;
      }),
    }));
    expect(said).toHaveLength(6);
    expect(JSON.stringify(said.slice(0, 3))).toBe(JSON.stringify(said.slice(3)));
  });

  test("creating a key that exists is already_exists, and records no event", async () => {
    const row = input(2);
    const key = String(row[spec.key]);
    await createRecord(ctx, spec, row);
    const error = await domainError(createRecord(ctx, spec, { ...row }));
    expect(error.kind).toBe("already_exists");
    expect(error.message).toContain(key);
    expect((await eventsFor(spec.resource, key)).length).toBe(1);
  });

  test("update and delete of a missing key are not_found", async () => {
    const key = String(input(3)[spec.key]);
    expect((await domainError(updateRecord(ctx, spec, key, patch, "*"))).kind).toBe("not_found");
    expect((await domainError(deleteRecord(ctx, spec, key))).kind).toBe("not_found");
    expect(await eventsFor(spec.resource, key)).toEqual([]);
  });
});

describe("versions and ETags", () => {
  const spec = codesSpec;
  const sample = SAMPLES[0] as (typeof SAMPLES)[0];

  test("a stale If-Match is refused with the current ETag, and the row is unchanged", async () => {
    const created = await createRecord(ctx, spec, sample.input(10));
    const key = String(created.code);
    const first = await updateRecord(ctx, spec, key, { tariff_cents: 111 }, etagOf(created));
    const error = await domainError(updateRecord(ctx, spec, key, { tariff_cents: 222 }, etagOf(created)));
    expect(error).toBeInstanceOf(StaleWriteError);
    expect(error.kind).toBe("precondition_failed");
    expect((error as StaleWriteError).currentEtag).toBe(etagOf(first));
    expect(await getRecord(ctx, spec, key)).toMatchObject({ tariff_cents: 111, version: 2 });
  });

  test("If-Match accepts `*` and a list that contains the current ETag", async () => {
    const created = await createRecord(ctx, spec, sample.input(11));
    const key = String(created.code);
    const v2 = await updateRecord(ctx, spec, key, { tariff_cents: 5 }, "*");
    expect(v2.version).toBe(2);
    const v3 = await updateRecord(ctx, spec, key, { tariff_cents: 6 }, `"0-0", ${etagOf(v2)}`);
    expect(v3).toMatchObject({ tariff_cents: 6, version: 3 });
  });

  test("an empty patch changes nothing: same version, same ETag, no event", async () => {
    const created = await createRecord(ctx, spec, sample.input(12));
    const same = await updateRecord(ctx, spec, String(created.code), {}, etagOf(created));
    expect(same).toEqual(created);
    expect((await eventsFor("codes", String(created.code))).map((e) => e.data.op)).toEqual(["created"]);
  });

  test("a patch that would make the merged record invalid is refused as invalid, naming the field", async () => {
    const created = await createRecord(ctx, spec, { ...sample.input(13), effective_from: "2020-01-01" });
    const error = await domainError(
      updateRecord(ctx, spec, String(created.code), { effective_to: "2019-12-31" }, etagOf(created)),
    );
    expect(error.kind).toBe("invalid");
    expect(error.errors).toEqual([expect.objectContaining({ location: "body.effective_to" })]);
    expect(await getRecord(ctx, spec, String(created.code))).toEqual(created);
  });

  test("the ETag is the version and the write time: a re-created key at version 1 gets another ETag", () => {
    const first = { version: 1, updated_at: new Date("2026-01-01T00:00:00.000Z") };
    const recreated = { version: 1, updated_at: new Date("2026-01-01T00:00:00.001Z") };
    expect(etagOf(first)).not.toBe(etagOf(recreated));
    expect(etagOf({ ...first, version: 2 })).not.toBe(etagOf(first));
    // Events and the API carry ISO strings: the same instant gives the same ETag in either form.
    expect(etagOf({ ...first, updated_at: first.updated_at.toISOString() })).toBe(etagOf(first));
    expect(etagOf(first)).toMatch(/^"1-[0-9a-z]+"$/);
  });
});

describe("listRecords", () => {
  // Keys 3xxxx belong to this block only, so other tests' rows never land in these pages.
  const keys = ["30001", "30002", "30003", "30004", "30005"];
  const base = SAMPLES[0] as (typeof SAMPLES)[0];

  beforeAll(async () => {
    for (const [i, code] of keys.entries())
      await createRecord(ctx, codesSpec, {
        ...base.input(0),
        code,
        description: i === 2 ? "Ponction ÉPIDURALE" : `Visite 100% ${code}`,
        category: i % 2 === 0 ? "listtest-even" : "listtest-odd",
        active: i !== 4,
        effective_from: "2020-01-01",
        effective_to: i === 3 ? "2020-06-30" : null,
      });
  });

  test("pages follow the key order with a cursor until nextCursor is null: every row once, no gaps", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listRecords(ctx, codesSpec, { limit: 2, cursor, filters: {}, q: "3000" });
      seen.push(...page.items.map((r) => String(r.code)));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(seen).toEqual(keys);
    expect(pages).toBe(3);
  });

  test("q matches the key or the description without regard to case or accents", async () => {
    const page = await listRecords(ctx, codesSpec, { limit: 50, q: "epidurale", filters: {} });
    expect(page.items.map((r) => r.code)).toEqual(["30003"]);
    // LIKE's wildcards in q are literal: "100%" is not "100 followed by anything".
    const percent = await listRecords(ctx, codesSpec, { limit: 50, q: "100%", filters: {} });
    expect(percent.items.map((r) => r.code)).toEqual(["30001", "30002", "30004", "30005"]);
    const underscore = await listRecords(ctx, codesSpec, { limit: 50, q: "visit_", filters: {} });
    expect(underscore.items).toEqual([]);
  });

  test("filters narrow the list: category, active, and the codes in effect on a day", async () => {
    const list = async (filters: Record<string, unknown>) =>
      (await listRecords(ctx, codesSpec, { limit: 50, filters })).items.map((r) => r.code);
    expect(await list({ category: "listtest-even" })).toEqual(["30001", "30003", "30005"]);
    expect(await list({ category: "listtest-even", active: "false" })).toEqual(["30005"]);
    expect(await list({ category: "listtest-odd", effective_on: "2021-01-01" })).toEqual(["30002"]);
    expect(await list({ category: "listtest-odd", effective_on: "2020-03-01" })).toEqual(["30002", "30004"]);
  });

  // decodeCursor (from @fig/service) throws the HTTP layer's AppError, not a DomainError: a 400 either way.
  test("a cursor the API did not issue is refused as a validation problem on query.cursor", async () => {
    const error = await listRecords(ctx, contextsSpec, {
      limit: 5,
      cursor: "not-a-cursor",
      filters: {},
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ type: "validation", status: 400 });
    expect((error as AppError).errors?.[0]?.location).toBe("query.cursor");
  });
});

describe("referenceChangeRecorder", () => {
  test("the event is written in the write's transaction: a write that rolls back leaves no event", async () => {
    const row = (SAMPLES[1] as (typeof SAMPLES)[1]).input(40);
    await tdb.db
      .transaction(async (tx) => {
        await createRecord({ ...ctx, db: tx }, contextsSpec, row);
        throw new Error("roll back");
      })
      .catch(() => {});
    expect(await eventsFor("contexts", String(row.code))).toEqual([]);
    expect((await domainError(getRecord(ctx, contextsSpec, String(row.code)))).kind).toBe("not_found");
  });

  test("a named source is the event's source; without rows, the event names keys only", async () => {
    const row = (SAMPLES[1] as (typeof SAMPLES)[1]).input(41);
    await createRecord(
      { db: tdb.db, recordChange: referenceChangeRecorder({ source: "monolith" }) },
      contextsSpec,
      row,
    );
    const [event] = await eventsFor("contexts", String(row.code));
    expect(event?.source).toBe("monolith");
    expect(event?.data).toEqual({
      table: "contexts",
      op: "created",
      keys: [row.code],
      count: 1,
      truncated: false,
    });
  });

  test("more keys than an event may carry: the event is truncated, with the count and no keys or rows", async () => {
    const n = REFERENCE_CHANGED_MAX_KEYS + 1;
    const keys = Array.from({ length: n }, (_, i) => `T${i}`);
    await tdb.db.transaction(async (tx) => {
      await referenceChangeRecorder({ withRows: true })(tx, {
        spec: contextsSpec,
        op: "imported",
        keys,
        rows: [],
      });
    });
    const [event] = (await outboxEvents(tdb.db)).filter(
      (e) => e.subject === "contexts" && e.data.count === n,
    );
    expect(event?.data).toMatchObject({ op: "imported", count: n, truncated: true, keys: [], rows: [] });
  });
});
