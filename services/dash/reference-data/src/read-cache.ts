import {
  createReadCacheFeed,
  createReferenceReadCache,
  type ReadCacheFeedOptions,
  type ReferenceReadCache,
} from "@dash/reference";
import { Gauge, type Registry } from "prom-client";
import type { Config } from "./config.ts";

/**
 * This replica's read cache and the feed that keeps it current, from the config; undefined when READ_CACHE is
 * off. Hits, misses and invalidations show on /metrics (`reference_read_cache_*`).
 */
export function createReadCache(
  config: Config,
  { registry, ...feed }: Omit<ReadCacheFeedOptions, "cache"> & { registry: Registry },
): { cache: ReferenceReadCache; component: ReturnType<typeof createReadCacheFeed> } | undefined {
  if (config.READ_CACHE === "off") return undefined;
  const cache = createReferenceReadCache({
    ttlSeconds: {
      codes: config.READ_CACHE_TTL_CODES_S,
      contexts: config.READ_CACHE_TTL_CONTEXTS_S,
      establishments: config.READ_CACHE_TTL_ESTABLISHMENTS_S,
      rules: config.READ_CACHE_TTL_RULES_S,
    },
    maxEntries: config.READ_CACHE_MAX_ENTRIES,
  });
  const stat = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  stat("reference_read_cache_hits", "GETs answered from memory since start", () => cache.stats().hits);
  stat("reference_read_cache_misses", "GETs read from the database since start", () => cache.stats().misses);
  stat(
    "reference_read_cache_invalidations",
    "Changes applied to the cache since start",
    () => cache.stats().invalidations,
  );
  stat("reference_read_cache_entries", "Records held", () => cache.stats().entries);
  stat("reference_read_cache_online", "1 while the reference.changed feed runs (else reads bypass it)", () =>
    cache.online ? 1 : 0,
  );
  return { cache, component: createReadCacheFeed({ cache, ...feed }) };
}
