import { expect, test } from "bun:test";
import { hash53, KeyTable } from "../src/rules/hash.ts";

test("hash53 is a non-zero safe integer that separates its parts", () => {
  const h = hash53("TREM85062512", "00103", "2025-05-20", "1234567");
  expect(Number.isSafeInteger(h) && h > 0).toBe(true);
  expect(hash53("TREM85062512", "00103", "2025-05-20", "1234567")).toBe(h);
  expect(hash53("ab", "c", "")).not.toBe(hash53("a", "bc", ""));
});

test("KeyTable keeps every key through growth", () => {
  const table = new KeyTable(16);
  const keys = Array.from({ length: 50_000 }, (_, i) => hash53(`P${i}`, "00103", "2025-05-20"));
  expect(keys.every((key, i) => table.getOrSet(key, i) === undefined)).toBe(true);
  expect(table.size).toBe(50_000);
  expect(keys.every((key, i) => table.get(key) === i && table.getOrSet(key, -1) === i)).toBe(true);
  expect(table.get(hash53("absent", "", ""))).toBeUndefined();
});

test("KeyTable.add sums per key and saturates at 2³²−1", () => {
  const table = new KeyTable();
  expect(table.add(7, 2)).toBe(2);
  expect(table.add(7, 3)).toBe(5);
  expect(table.add(8, 1)).toBe(1);
  expect(table.add(7, 2 ** 40)).toBe(0xffffffff);
});
