/** One cached answer: the UTF-8 bytes of a record's JSON as GET returns it, and its ETag. */
export type CachedRecord = { body: Uint8Array<ArrayBuffer>; etag: string };

/** Seconds a cached record lives at most, per table: the safety net for changes no event announced. */
export type ReadCacheTtls = Record<string, number>;

export type ReadCacheOptions = {
  /** Per-table TTL in seconds; a table not named is not cached. */
  ttlSeconds?: ReadCacheTtls;
  /** Records kept at most over all tables; the oldest insert goes first. */
  maxEntries?: number;
  /** The clock, in ms (tests move it). */
  now?: () => number;
};

/** The roadmap's TTLs: codes and contexts change a few times a year, rules almost never. */
export const DEFAULT_READ_CACHE_TTLS: ReadCacheTtls = {
  codes: 3600,
  contexts: 3600,
  establishments: 3600,
  rules: 86_400,
};

/**
 * A read token taken before the database read: the answer may be stored only if nothing was invalidated since,
 * so a read that raced an invalidation can never put the older row back.
 */
export type ReadTicket = number;

export type ReferenceReadCache = {
  /** The cached answer, or undefined on a miss, an expired entry or while the cache is offline. */
  get(table: string, key: string): CachedRecord | undefined;
  /** Take before reading the database; hand to `set`. */
  ticket(): ReadTicket;
  /** Stores the answer read under `ticket`, unless an invalidation happened since or the cache is offline. */
  set(table: string, key: string, value: CachedRecord, ticket: ReadTicket): void;
  /** A list page by its query string (`?limit=50&q=acces`); any change of the table drops them all. */
  getList(table: string, query: string): CachedRecord | undefined;
  setList(table: string, query: string, value: CachedRecord, ticket: ReadTicket): void;
  /**
   * Drops the keys of `table`, or the whole table when `keys` is undefined (a truncated change); either way
   * the table's list pages go, since any change may move a row into or out of a page.
   */
  invalidate(table: string, keys?: readonly string[]): void;
  /**
   * Online: answers come from memory. Offline (the invalidation feed is down, so changes may go unseen): every
   * read goes to the database and nothing is stored. Each switch drops everything.
   */
  setOnline(online: boolean): void;
  readonly online: boolean;
  /** Counters since start (hits, misses, invalidations) and the entries held. */
  stats(): { hits: number; misses: number; invalidations: number; entries: number };
};

type Entry = CachedRecord & { expiresAt: number };

/**
 * The reference tables' per-replica read cache: the bytes of each record's GET answer with its ETag, kept until
 * a `reference.changed` event (or this replica's own write) names the key, and at most the table's TTL; list
 * pages likewise, until any change of their table.
 * It starts offline: the service turns it on once its invalidation consumer runs.
 *
 * @example
 * const cache = createReferenceReadCache({ ttlSeconds: DEFAULT_READ_CACHE_TTLS });
 * const ticket = cache.ticket();
 * const hit = cache.get("codes", "00103") ?? (await readAndStore("codes", "00103", ticket));
 */
export function createReferenceReadCache({
  ttlSeconds = DEFAULT_READ_CACHE_TTLS,
  maxEntries = 50_000,
  now = Date.now,
}: ReadCacheOptions = {}): ReferenceReadCache {
  // Per table: records under their key, list pages under their query string, apart (a decoded path
  // parameter can be any string, so it must never find a page).
  type Shelf = Map<string, Map<string, Entry>>;
  const records: Shelf = new Map();
  const lists: Shelf = new Map();
  let size = 0;
  let generation = 0;
  let online = false;
  const counters = { hits: 0, misses: 0, invalidations: 0 };

  function clear() {
    records.clear();
    lists.clear();
    size = 0;
    generation++;
  }

  function evictOldest() {
    for (const shelf of [lists, records])
      for (const entries of shelf.values()) {
        const oldest = entries.keys().next();
        if (!oldest.done) {
          entries.delete(oldest.value);
          size--;
          return;
        }
      }
  }

  function drop(shelf: Shelf, table: string) {
    size -= shelf.get(table)?.size ?? 0;
    shelf.delete(table);
  }

  function read(shelf: Shelf, table: string, key: string): CachedRecord | undefined {
    const entry = online ? shelf.get(table)?.get(key) : undefined;
    if (entry && entry.expiresAt > now()) {
      counters.hits++;
      return entry;
    }
    if (entry) {
      shelf.get(table)?.delete(key);
      size--;
    }
    counters.misses++;
    return undefined;
  }

  function write(shelf: Shelf, table: string, key: string, value: CachedRecord, ticket: ReadTicket) {
    const ttl = ttlSeconds[table];
    if (!online || ticket !== generation || ttl === undefined || ttl <= 0) return;
    let entries = shelf.get(table);
    if (!entries) {
      entries = new Map();
      shelf.set(table, entries);
    }
    if (!entries.delete(key)) {
      if (size >= maxEntries) evictOldest();
      size++;
    }
    entries.set(key, { body: value.body, etag: value.etag, expiresAt: now() + ttl * 1000 });
  }

  return {
    get: (table, key) => read(records, table, key),
    ticket: () => generation,
    set: (table, key, value, ticket) => write(records, table, key, value, ticket),
    getList: (table, query) => read(lists, table, query),
    setList: (table, query, value, ticket) => write(lists, table, query, value, ticket),
    invalidate(table, keys) {
      counters.invalidations++;
      generation++;
      drop(lists, table);
      const entries = records.get(table);
      if (keys === undefined || !entries) return drop(records, table);
      for (const key of keys) if (entries.delete(key)) size--;
    },
    setOnline(next) {
      if (next === online) return;
      online = next;
      clear();
    },
    get online() {
      return online;
    },
    stats: () => ({ ...counters, entries: size }),
  };
}
