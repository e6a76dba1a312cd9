import type { GateMeasurement, GatewayMeasurement, Verdict } from "./schema.ts";

const failing = (
  where: string,
  list: { ok: boolean; inconclusive: boolean; key: string; expression: string; value: number | null }[],
) =>
  list
    .filter((t) => !t.ok && !t.inconclusive)
    .map((t) => `${where} ${t.key} ${t.expression} was ${t.value === null ? "n/a" : +t.value.toFixed(4)}`);

/**
 * Decides one step from the gate (pinned to the candidate) and the gateway's numbers for the candidate over
 * the same window, against the same budgets. Never a pass on no data: too few candidate requests at the
 * gateway, or a gate threshold without samples, is inconclusive. Nor on part of the gateway's data (a gateway
 * process that did not answer a reading of its counters): a failure seen in the part is still a failure, but
 * otherwise the step is inconclusive and measured again (failed at the inconclusive deadline).
 */
export function decide(
  gate: GateMeasurement | null,
  gateway: GatewayMeasurement,
  minRequests: number,
): { verdict: Verdict; reason: string } {
  const enough = gateway.numbers.requests >= minRequests;
  // Plain words first: a gate refused wholesale measured the auth check, whatever its thresholds say.
  const refusals = gate?.refusals ?? [];
  const failures = [
    ...(gate ? failing("gate", gate.thresholds) : []),
    ...(enough ? failing("gateway", gateway.thresholds) : []),
  ];
  if (gate?.verdict === "fail" && failures.length === 0) failures.push("gate failed (see its thresholds)");
  if (refusals.length > 0) return { verdict: "fail", reason: [...refusals, ...failures].join("; ") };
  if (failures.length > 0) return { verdict: "fail", reason: failures.join("; ") };
  if (gateway.partial)
    return { verdict: "inconclusive", reason: `not the whole gateway's numbers: ${gateway.partial}` };
  if (!enough)
    return {
      verdict: "inconclusive",
      reason: `only ${gateway.numbers.requests} candidate requests at the gateway in the window (--min-requests ${minRequests})`,
    };
  const noData = [
    ...(gate
      ? gate.thresholds.filter((t) => t.inconclusive).map((t) => `gate ${t.key} ${t.expression}`)
      : []),
    ...gateway.thresholds.filter((t) => t.inconclusive).map((t) => `gateway ${t.key} ${t.expression}`),
  ];
  if (gate?.verdict === "inconclusive" || noData.length > 0)
    return { verdict: "inconclusive", reason: `no data for ${noData.join(", ") || "the gate's thresholds"}` };
  return {
    verdict: "pass",
    reason: `gate pass, gateway pass (${gateway.numbers.requests} candidate requests, p95 ${gateway.numbers.p95?.toFixed(1)} ms, errors ${((gateway.numbers.errorRate ?? 0) * 100).toFixed(2)} %)`,
  };
}
