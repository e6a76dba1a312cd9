import { describe, expect, test } from "bun:test";
import { createReferenceReadCache } from "../src/read-cache.ts";

const answer = (v: number) => ({ body: new TextEncoder().encode(`{"version":${v}}`), etag: `"${v}-x"` });

function onlineCache(options: Parameters<typeof createReferenceReadCache>[0] = {}) {
  const cache = createReferenceReadCache(options);
  cache.setOnline(true);
  return cache;
}

describe("createReferenceReadCache", () => {
  test("a read that raced an invalidation cannot store the older answer", () => {
    const cache = onlineCache();
    const ticket = cache.ticket(); // the read starts
    cache.invalidate("codes", ["00103"]); // the change's event arrives while it reads
    cache.set("codes", "00103", answer(1), ticket);
    expect(cache.get("codes", "00103")).toBeUndefined();
    cache.set("codes", "00103", answer(2), cache.ticket());
    expect(cache.get("codes", "00103")).toMatchObject(answer(2));
  });

  test("entries live at most their table's TTL; a table without one is not cached", () => {
    let now = 1_000_000;
    const cache = onlineCache({ ttlSeconds: { codes: 3600, rules: 86_400 }, now: () => now });
    cache.set("codes", "a", answer(1), cache.ticket());
    cache.set("rules", "r", answer(1), cache.ticket());
    cache.set("contexts", "c", answer(1), cache.ticket());
    expect(cache.get("contexts", "c")).toBeUndefined();
    now += 3600 * 1000 - 1;
    expect(cache.get("codes", "a")).toBeDefined();
    now += 1;
    expect(cache.get("codes", "a")).toBeUndefined();
    expect(cache.get("rules", "r")).toBeDefined();
    now += 86_400 * 1000;
    expect(cache.get("rules", "r")).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
  });

  test("a truncated change drops the whole table and only it", () => {
    const cache = onlineCache();
    for (const key of ["a", "b"]) cache.set("codes", key, answer(1), cache.ticket());
    cache.set("rules", "r", answer(1), cache.ticket());
    cache.invalidate("codes");
    expect(cache.get("codes", "a")).toBeUndefined();
    expect(cache.get("codes", "b")).toBeUndefined();
    expect(cache.get("rules", "r")).toBeDefined();
    expect(cache.stats().entries).toBe(1);
  });

  test("offline: nothing is served or stored, and going offline or back online empties it", () => {
    const cache = createReferenceReadCache();
    cache.set("codes", "a", answer(1), cache.ticket());
    expect(cache.get("codes", "a")).toBeUndefined();
    cache.setOnline(true);
    cache.set("codes", "a", answer(1), cache.ticket());
    const ticket = cache.ticket();
    cache.setOnline(false);
    expect(cache.get("codes", "a")).toBeUndefined();
    cache.setOnline(true);
    expect(cache.get("codes", "a")).toBeUndefined();
    cache.set("codes", "a", answer(1), ticket); // read before the outage: refused
    expect(cache.get("codes", "a")).toBeUndefined();
  });

  test("list pages: any change of their table drops them, a record key never finds one", () => {
    const cache = onlineCache();
    cache.setList("codes", "limit=5", answer(1), cache.ticket());
    cache.setList("rules", "limit=5", answer(1), cache.ticket());
    cache.set("codes", "a", answer(1), cache.ticket());
    expect(cache.get("codes", "limit=5")).toBeUndefined();
    expect(cache.getList("codes", "limit=5")).toMatchObject(answer(1));
    cache.invalidate("codes", ["zzz"]);
    expect(cache.getList("codes", "limit=5")).toBeUndefined();
    expect(cache.get("codes", "a")).toBeDefined();
    expect(cache.getList("rules", "limit=5")).toBeDefined();
    expect(cache.stats().entries).toBe(2);
  });

  test("bounded: past maxEntries the oldest entry goes", () => {
    const cache = onlineCache({ maxEntries: 2 });
    for (const key of ["a", "b", "c"]) cache.set("codes", key, answer(1), cache.ticket());
    expect(cache.stats().entries).toBe(2);
    expect(cache.get("codes", "a")).toBeUndefined();
    expect(cache.get("codes", "c")).toBeDefined();
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1 });
  });
});
