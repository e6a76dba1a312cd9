// @ts-check
/**
 * Load test: reference-data read journey — list codes, search codes, get one code.
 *
 * Runs unchanged on k6 ≥ 0.43 and on Fig's builtin engine (`bun run gate loadtests/reference-data.js`).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8082 \
 *     -e TOKEN=$(bun run --silent token --sub k6 --tenant acme --roles viewer) \
 *     loadtests/reference-data.js
 *
 * Environment: BASE_URL (default http://127.0.0.1:8082), TOKEN (viewer or more; role gate to pin), PIN (see
 * lib/fig.js), VUS (default 10), DURATION (k6 duration, default 30s).
 *
 * Thresholds below are the promotion budget (p95 < 500 ms, < 1 % errors) overall and per endpoint; k6 exits 99
 * when one fails, and the gate is inconclusive (exit 98) when one has no data.
 */
import { check } from "k6";
import http from "k6/http";
import { baseUrl, intEnv, json, params } from "./lib/fig.js";

const BASE_URL = baseUrl("http://127.0.0.1:8082");

export const options = {
  scenarios: {
    read_codes: {
      executor: "constant-vus",
      vus: intEnv(__ENV.VUS, 10),
      duration: __ENV.DURATION || "30s",
    },
  },
  thresholds: {
    http_req_duration: ["p(95)<500"],
    http_req_failed: ["rate<0.01"],
    "http_req_duration{name:list-codes}": ["p(95)<500"],
    "http_req_duration{name:search-codes}": ["p(95)<500"],
    "http_req_duration{name:get-code}": ["p(95)<500"],
    checks: ["rate>0.99"],
  },
};

/** @param {any} body */
function items(body) {
  return body && Array.isArray(body.items) ? body.items : null;
}

export default async function () {
  const list = await http.asyncRequest("GET", `${BASE_URL}/api/codes?limit=50`, null, params("list-codes"));
  const listed = items(json(list));
  check(list, {
    "list: status 200": (r) => r.status === 200,
    "list: has items": () => listed !== null && listed.length > 0,
  });

  const search = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes?q=acces&limit=20`,
    null,
    params("search-codes"),
  );
  check(search, {
    "search: status 200": (r) => r.status === 200,
    "search: items is an array": (r) => items(json(r)) !== null,
  });

  const code = listed && listed.length > 0 ? listed[(__ITER + __VU) % listed.length].code : undefined;
  if (!code) return;
  const one = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes/${encodeURIComponent(code)}`,
    null,
    params("get-code"),
  );
  check(one, {
    "get: status 200": (r) => r.status === 200,
    "get: same code": (r) => {
      const body = json(r);
      return body !== null && body.code === code;
    },
  });
}
