import type { Weights } from "./schema.ts";

/** The weights of one step: `candidate` gets `percent`, `stable` the rest, any other upstream 0. */
export const stepWeights = (order: string[], stable: string, candidate: string, percent: number): Weights =>
  Object.fromEntries(order.map((n) => [n, n === candidate ? percent : n === stable ? 100 - percent : 0]));
