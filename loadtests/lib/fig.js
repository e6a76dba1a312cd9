// @ts-check
/**
 * Helpers shared by Fig's k6 scripts: ES2017 syntax and ES modules only (no object spread, `?.` or `??`), so
 * they load on k6 ≥ 0.43, whose Babel step before v0.53 rejects newer syntax, and on the builtin engine.
 *
 *   BASE_URL  service or gateway origin
 *   TOKEN     bearer JWT (omit only when auth is off)
 *   PIN       upstream to pin at the gateway with `x-fig-route` (needs a token with role gate or admin), so a
 *             gate measures that upstream alone and not the blend of the weights
 */

/** @param {string} fallback */
export function baseUrl(fallback) {
  return (__ENV.BASE_URL || fallback).replace(/\/+$/, "");
}

/**
 * Request params: the bearer token, the pin, and a `name` tag grouping URLs into one metric series.
 * @param {string} name
 * @param {Record<string, string>} [extraHeaders]
 * @param {string} [pin] overrides __ENV.PIN (per-route pins in mixed traffic)
 */
export function params(name, extraHeaders, pin) {
  /** @type {Record<string, string>} */
  const headers = Object.assign({ Accept: "application/json" }, extraHeaders);
  if (__ENV.TOKEN) headers.Authorization = `Bearer ${__ENV.TOKEN}`;
  const upstream = pin === undefined ? __ENV.PIN : pin;
  if (upstream) headers["x-fig-route"] = upstream;
  return { headers, tags: { name } };
}

/**
 * Parsed JSON body or null (k6's res.json() throws on a body that is not JSON).
 * @param {{ json(): unknown }} res
 * @returns {any}
 */
export function json(res) {
  try {
    return res.json();
  } catch (_err) {
    return null;
  }
}

/** @param {string | undefined} value @param {number} fallback */
export function intEnv(value, fallback) {
  const n = Number(value);
  return value && Number.isInteger(n) && n > 0 ? n : fallback;
}
