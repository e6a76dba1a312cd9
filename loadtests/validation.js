// @ts-check
/**
 * Load test: the validation journey — upload a generated billing CSV, start a validation run, poll it until it
 * completes.
 *
 * Runs unchanged on k6 ≥ 0.43 and on Fig's builtin engine (`bun run gate loadtests/validation.js`).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8083 \
 *     -e TOKEN=$(bun run --silent token --sub k6 --tenant acme --roles editor) \
 *     loadtests/validation.js
 *
 * Environment: BASE_URL (default http://127.0.0.1:8083), TOKEN (role editor: uploads; gate to pin), PIN (see
 * lib/fig.js), VUS (default 2), DURATION (default 30s), ROWS (rows per file, default 200), POLL_TIMEOUT (seconds
 * a run may take to complete, default 60).
 */
import { check, sleep } from "k6";
import http from "k6/http";
import { Counter, Trend } from "k6/metrics";
import { baseUrl, intEnv, json, params } from "./lib/fig.js";

const BASE_URL = baseUrl("http://127.0.0.1:8083");
const ROWS = intEnv(__ENV.ROWS, 200);
const POLL_TIMEOUT_S = intEnv(__ENV.POLL_TIMEOUT, 60);

/** Upload → completed, as the user waits for it (polling included). */
const journeyDuration = new Trend("validation_journey_duration", true);
/** Runs that ended `failed` or did not complete within POLL_TIMEOUT. */
const journeyFailures = new Counter("validation_journey_failures");

export const options = {
  scenarios: {
    validate_files: {
      executor: "constant-vus",
      vus: intEnv(__ENV.VUS, 2),
      duration: __ENV.DURATION || "30s",
    },
  },
  thresholds: {
    http_req_duration: ["p(95)<500"],
    http_req_failed: ["rate<0.01"],
    "http_req_duration{name:upload-file}": ["p(95)<500"],
    "http_req_duration{name:start-validation}": ["p(95)<500"],
    "http_req_duration{name:get-validation}": ["p(95)<500"],
    validation_journey_duration: ["p(95)<30000"],
    validation_journey_failures: ["count<1"],
    checks: ["rate>0.99"],
  },
};

const HEADER =
  "No facture;No ligne;NAM;Date de naissance;No professionnel;No établissement;Date de service;" +
  "Code de facturation;Éléments de contexte;Unités;Montant réclamé;Code diagnostic;Médecin référent;" +
  "Heure début;Heure fin;Date de transmission";

/** A small claims file, unique per VU and iteration (the service dedupes nothing by content, but keep it honest). */
function claimsCsv() {
  const lines = [HEADER];
  const prefix = `7${String(__VU).padStart(3, "0")}${String(__ITER % 10000).padStart(4, "0")}`;
  for (let i = 1; i <= ROWS; i++) {
    const invoice = `${prefix}${String(i).padStart(4, "0")}`;
    const day = String(1 + (i % 28)).padStart(2, "0");
    lines.push(
      `${invoice};1;AAET98081045;1998-08-10;1720674;97194;2026-10-${day};11824;;1;2237,00;786;;07:05;07:55;2026-11-22`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export default async function () {
  const started = Date.now();
  const upload = await http.asyncRequest(
    "POST",
    `${BASE_URL}/api/files?name=${encodeURIComponent(`k6-${__VU}-${__ITER}.csv`)}`,
    claimsCsv(),
    params("upload-file", { "Content-Type": "text/csv" }),
  );
  const file = json(upload);
  check(upload, {
    "upload: status 201": (r) => r.status === 201,
    "upload: has fileId": () => !!(file && file.fileId),
  });
  if (!file || !file.fileId) return;

  const start = await http.asyncRequest(
    "POST",
    `${BASE_URL}/api/validations`,
    JSON.stringify({ fileId: file.fileId }),
    params("start-validation", { "Content-Type": "application/json" }),
  );
  const run = json(start);
  check(start, {
    "start: status 202": (r) => r.status === 202,
    "start: has validationId": () => !!(run && run.validationId),
  });
  if (!run || !run.validationId) return;

  let status = run.status;
  while (status !== "completed" && status !== "failed" && Date.now() - started < POLL_TIMEOUT_S * 1000) {
    await sleep(0.2);
    const poll = await http.asyncRequest(
      "GET",
      `${BASE_URL}/api/validations/${run.validationId}`,
      null,
      params("get-validation"),
    );
    check(poll, { "poll: status 200": (r) => r.status === 200 });
    const polled = json(poll);
    status = polled ? polled.status : undefined;
  }
  const completed = check(status, { "run: completed": (s) => s === "completed" });
  if (completed) journeyDuration.add(Date.now() - started);
  // Always a sample (0 or 1): a counter that never received one has no data, and the gate would be inconclusive.
  journeyFailures.add(completed ? 0 : 1);
}
