import { describe, expect, test } from "bun:test";
import { catalog, subjectOf } from "../src/index.ts";
// Dash's reference.changed, declared in Dash's code: the strict counterpart this file compares with.
import "../../dash/reference/src/event-catalog.ts";

// data.changed: the one row-change event every system's declared tables use, each publisher on its own subject.
describe("data.changed", () => {
  test("any upstream publishes it, each on a subject of its own, so a follower takes one side only", () => {
    expect(subjectOf("fig", "data.changed", "clinic-legacy")).toBe("fig.events.data.changed.clinic-legacy");
    expect(subjectOf("fig", "data.changed", "scheduling")).toBe("fig.events.data.changed.scheduling");
    expect(() => subjectOf("fig", "data.changed")).toThrow("name the publisher");
    expect(() => subjectOf("fig", "data.changed", "a.b")).toThrow("a.b cannot be a subject token");
  });

  test("its payload takes any table; reference.changed keeps Dash's four, with the same shape", () => {
    const change = {
      table: "appointments",
      op: "updated" as const,
      keys: ["north\u001f3"],
      count: 1,
      truncated: false,
      rows: [{ clinic_id: "north", slot: 3, updated_at: "2026-03-01T09:03:00.123456+00:00" }],
      sequence: 42,
    };
    expect(catalog["data.changed"].schema.parse(change)).toEqual(change);
    expect(catalog["reference.changed"].schema.safeParse(change).success).toBe(false);
    expect(catalog["reference.changed"].schema.parse({ ...change, table: "codes" }).table).toBe("codes");
    expect(catalog["data.changed"].schema.safeParse({ ...change, extra: 1 }).success).toBe(false);
  });
});
