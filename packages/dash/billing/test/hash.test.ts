import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { BoundedKeyTable, hash53, KeyTable } from "../src/rules/hash.ts";

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

test("BoundedKeyTable answers as a KeyTable while spilling to sorted runs and compacting them", () => {
  // 100 keys in memory, 5,000 distinct keys: hundreds of spills, so runs are merged many times over.
  const bounded = new BoundedKeyTable(100);
  const firstSeen = new KeyTable();
  const units = new KeyTable();
  const boundedUnits = new BoundedKeyTable(100);
  let seed = 42;
  const random = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const want: (number | undefined)[] = [];
  const got: (number | undefined)[] = [];
  try {
    for (let line = 1; line <= 20_000; line++) {
      const key = hash53(`P${Math.floor(random() * 5_000)}`, "00103", "2025-05-20");
      want.push(firstSeen.getOrSet(key, line));
      got.push(bounded.getOrSet(key, line));
      const delta = 1 + Math.floor(random() * 3);
      want.push(units.add(key, delta));
      got.push(boundedUnits.add(key, delta));
    }
    expect(got).toEqual(want);
    expect(want.filter((v, i) => i % 2 === 0 && v !== undefined).length).toBeGreaterThan(10_000);
    expect(bounded.spilled).toBeGreaterThan(4_000);
    expect(boundedUnits.spilled).toBeGreaterThan(4_000);
  } finally {
    bounded.close();
    boundedUnits.close();
  }
});

test("BoundedKeyTable.close deletes its spill file", () => {
  const table = new BoundedKeyTable(10);
  for (let i = 1; i <= 100; i++) table.getOrSet(hash53(`P${i}`, "", ""), i);
  const dir = (table as unknown as { disk: { dir: string } }).disk.dir;
  expect(existsSync(dir)).toBe(true);
  table.close();
  expect(existsSync(dir)).toBe(false);
});
