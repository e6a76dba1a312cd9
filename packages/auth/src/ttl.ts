const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Reads a token lifetime: whole seconds (`3600` or `"3600"`) or a count with a unit (`"30m"`, `"1h"`, `"2d"`).
 *
 * @example
 * parseTtlSeconds("30m"); // 1800
 */
export function parseTtlSeconds(ttl: string | number): number {
  const match = /^(\d+)([smhd]?)$/.exec(String(ttl).trim());
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] || "s"] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(
      `Invalid ttl ${JSON.stringify(ttl)}: use seconds or a number with s, m, h or d (e.g. 30m, 1h, 2d)`,
    );
  }
  return seconds;
}
