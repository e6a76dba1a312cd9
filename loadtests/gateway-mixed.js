// @ts-check
/**
 * Load test: mixed traffic through the gateway, as users send it — reference-data reads at a constant arrival
 * rate, validation-run listings, and the occasional full validation journey.
 *
 * Runs unchanged on k6 ≥ 0.43 and on Fig's builtin engine (`bun run gate loadtests/gateway-mixed.js`).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 \
 *     -e TOKEN=$(bun run --silent token --sub k6 --tenant acme --roles editor,gate) \
 *     loadtests/gateway-mixed.js
 *
 * Environment: BASE_URL (default http://127.0.0.1:8080), TOKEN (editor for uploads; gate or admin to pin),
 * PIN (pins every request: only an upstream every route has, e.g. monolith), PIN_REFERENCE / PIN_VALIDATION
 * (per-route pins, overriding PIN), RATE (reads per second, default 50), DURATION (default 30s).
 */
import { check, sleep } from "k6";
import http from "k6/http";
import { baseUrl, intEnv, json, params } from "./lib/fig.js";

const BASE_URL = baseUrl("http://127.0.0.1:8080");
const DURATION = __ENV.DURATION || "30s";
const RATE = intEnv(__ENV.RATE, 50);
const PIN_REFERENCE = __ENV.PIN_REFERENCE || __ENV.PIN;
const PIN_VALIDATION = __ENV.PIN_VALIDATION || __ENV.PIN;

export const options = {
  scenarios: {
    reads: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: Math.max(2, Math.ceil(RATE / 10)),
      maxVUs: Math.max(10, RATE),
      exec: "reads",
    },
    listings: {
      executor: "constant-vus",
      vus: 1,
      duration: DURATION,
      exec: "listings",
    },
    journeys: {
      executor: "constant-vus",
      vus: 1,
      duration: DURATION,
      exec: "journey",
    },
  },
  thresholds: {
    http_req_duration: ["p(95)<500"],
    http_req_failed: ["rate<0.01"],
    "http_req_duration{scenario:reads}": ["p(95)<500"],
    "http_req_failed{scenario:reads}": ["rate<0.01"],
    "http_req_duration{name:list-validations}": ["p(95)<500"],
    // The reads scenario really ran. (Not a dropped_iterations threshold: k6 emits that counter only on a
    // drop, so a healthy run has no sample of it, and a threshold without data makes the gate inconclusive.)
    "iterations{scenario:reads}": [{ threshold: "count>0", abortOnFail: false }],
    checks: ["rate>0.99"],
  },
};

export async function reads() {
  const search = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes?limit=20`,
    null,
    params("list-codes", undefined, PIN_REFERENCE),
  );
  const body = json(search);
  check(search, { "codes: status 200": (r) => r.status === 200 });
  const first = body && Array.isArray(body.items) && body.items.length > 0 ? body.items[0].code : undefined;
  if (!first) return;
  const one = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/codes/${encodeURIComponent(first)}`,
    null,
    params("get-code", undefined, PIN_REFERENCE),
  );
  check(one, { "code: status 200": (r) => r.status === 200 });
}

export async function listings() {
  const res = await http.asyncRequest(
    "GET",
    `${BASE_URL}/api/validations?limit=20`,
    null,
    params("list-validations", undefined, PIN_VALIDATION),
  );
  check(res, { "validations: status 200": (r) => r.status === 200 });
  await sleep(0.5);
}

const CSV =
  "No facture;No ligne;NAM;Date de naissance;No professionnel;No établissement;Date de service;" +
  "Code de facturation;Éléments de contexte;Unités;Montant réclamé;Code diagnostic;Médecin référent;" +
  "Heure début;Heure fin;Date de transmission\n" +
  "7074339001;1;AAET98081045;1998-08-10;1720674;97194;2026-10-07;11824;;1;2237,00;786;;07:05;07:55;2026-11-22\n";

export async function journey() {
  const upload = await http.asyncRequest(
    "POST",
    `${BASE_URL}/api/files?name=mixed.csv`,
    CSV,
    params("upload-file", { "Content-Type": "text/csv" }, PIN_VALIDATION),
  );
  const file = json(upload);
  check(upload, { "upload: status 201": (r) => r.status === 201 });
  if (!file || !file.fileId) return;
  const start = await http.asyncRequest(
    "POST",
    `${BASE_URL}/api/validations`,
    JSON.stringify({ fileId: file.fileId }),
    params("start-validation", { "Content-Type": "application/json" }, PIN_VALIDATION),
  );
  check(start, { "start: status 202": (r) => r.status === 202 });
  await sleep(2);
}
