/**
 * The sticky bucket (0–99) of a consumer on a route: FNV-1a over `consumer \0 routeId`, finished with
 * murmur3's fmix32 so similar ids (user-1, user-2…) spread evenly. The same consumer keeps the same bucket,
 * so moving weights moves only the consumers whose bucket the boundary passes.
 *
 * @example
 * bucketOf("alice", "validation"); // always the same number in 0..99
 */
export function bucketOf(consumer: string, routeId: string): number {
  // Over the characters of `consumer \0 routeId` without building that string (one per request).
  let h = 0x811c9dc5;
  for (let i = 0; i < consumer.length; i++) h = Math.imul(h ^ consumer.charCodeAt(i), 0x01000193);
  h = Math.imul(h, 0x01000193); // the separator: h ^ 0 is h
  for (let i = 0; i < routeId.length; i++) h = Math.imul(h ^ routeId.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % 100;
}

/**
 * The upstream whose slice of 0–99 holds `bucket`: slices follow the declared order, each as wide as its
 * weight (integer percentages summing to 100). With [monolith, candidate], raising the candidate's weight
 * from 10 to 20 moves buckets 80–89 only; 90–99 stay on the candidate.
 *
 * @example
 * pickByWeight(["monolith", "validation"], { monolith: 90, validation: 10 }, 95); // "validation"
 */
export function pickByWeight(
  order: readonly string[],
  weights: Record<string, number>,
  bucket: number,
): string {
  let edge = 0;
  for (const name of order) {
    edge += weights[name] ?? 0;
    if (bucket < edge) return name;
  }
  // Weights are validated to sum to 100; if a stored value does not, the first upstream (monolith) serves.
  return order[0] as string;
}
