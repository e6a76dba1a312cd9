/**
 * Load test: reference-data read journey — list codes, search codes, get one code.
 *
 * Runs unchanged on k6 ≥ 0.43 and on Fig's builtin engine (packages/loadgate).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8082 \
 *     -e TOKEN=$(bun run --silent token --sub k6 --tenant acme --roles viewer) \
 *     loadtests/reference-data.js
 *
 * Environment:
 *   BASE_URL  service or gateway origin (default http://127.0.0.1:8082)
 *   TOKEN     bearer JWT with at least the viewer role (omit only if auth is disabled)
 *   VUS       virtual users (default 10)
 *   DURATION  test length, k6 duration syntax (default 30s)
 *
 * Thresholds live below; k6 exits non-zero when one fails, which is what the promotion gate reads.
 */
import { check } from "k6";
import http from "k6/http";

const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:8082").replace(/\/+$/, "");
const HEADERS = __ENV.TOKEN
  ? { Accept: "application/json", Authorization: `Bearer ${__ENV.TOKEN}` }
  : { Accept: "application/json" };
// `name` groups URLs that differ only by id or query into one metric series.
const params = (name) => ({ headers: HEADERS, tags: { name } });

export const options = {
  scenarios: {
    read_codes: {
      executor: "constant-vus",
      vus: __ENV.VUS ? Number(__ENV.VUS) : 10,
      duration: __ENV.DURATION || "30s",
    },
  },
  thresholds: {
    http_req_duration: ["p(95)<500"],
    http_req_failed: ["rate<0.01"],
  },
};

// Parsed JSON body or null (k6's res.json() throws on a non-JSON body).
function json(res) {
  try {
    return res.json();
  } catch (_err) {
    return null;
  }
}

function items(res) {
  const body = json(res);
  return body && Array.isArray(body.items) ? body.items : null;
}

export default async function () {
  const list = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes?limit=50`,
    null,
    params("GET /api/codes"),
  );
  const listed = items(list);
  check(list, {
    "list: status 200": (r) => r.status === 200,
    "list: has items": () => listed !== null && listed.length > 0,
  });

  const search = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes?q=acces&limit=20`,
    null,
    params("GET /api/codes?q="),
  );
  check(search, {
    "search: status 200": (r) => r.status === 200,
    "search: items is an array": (r) => items(r) !== null,
  });

  const code = listed && listed.length > 0 ? listed[0].code : undefined;
  if (!code) return;
  const one = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes/${encodeURIComponent(code)}`,
    null,
    params("GET /api/codes/{code}"),
  );
  check(one, {
    "get: status 200": (r) => r.status === 200,
    "get: same code": (r) => {
      const body = json(r);
      return body !== null && body.code === code;
    },
  });
}
