import type { FieldError } from "@fig/service";
import type { RouteDefinition } from "../routes.ts";

/**
 * Problems with a weights change: every name a known upstream of the route, every weight an integer
 * 0–100, the sum exactly 100 (an upstream left out counts as 0). Empty when the weights are acceptable.
 *
 * @example
 * weightProblems(route, { monolith: 90, validation: 10 }); // []
 */
export function weightProblems(route: RouteDefinition, weights: Record<string, unknown>): FieldError[] {
  const known = new Set(route.upstreams.map((u) => u.name));
  const errors: FieldError[] = [];
  let sum = 0;
  for (const [name, weight] of Object.entries(weights)) {
    const location = `body.weights.${name}`;
    if (!known.has(name)) {
      errors.push({ location, message: `Unknown upstream; route ${route.id} has ${[...known].join(", ")}` });
      continue;
    }
    if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0 || weight > 100) {
      errors.push({ location, message: "Expected an integer percentage from 0 to 100" });
      continue;
    }
    sum += weight;
  }
  if (errors.length === 0 && sum !== 100) {
    errors.push({ location: "body.weights", message: `Weights must sum to 100 (they sum to ${sum})` });
  }
  return errors;
}

/** Every upstream of the route with its weight (0 for those left out). */
export function completeWeights(
  route: RouteDefinition,
  weights: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(route.upstreams.map((u) => [u.name, weights[u.name] ?? 0]));
}
