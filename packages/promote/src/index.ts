export { budgetsOf, DEFAULT_BUDGETS, gatewayMeasurement } from "./budgets.ts";
export { pauseRoute, type RouteControl, resumeLive, rollbackRoute } from "./commands.ts";
export {
  type CountersReading,
  readCounters,
  readCountersAfter,
  type StepWindow,
  stepWindow,
} from "./counters.ts";
export { type FlipSummary, type FlipWritesOutcome, flipWritesStep } from "./flip-writes.ts";
export { createGatewayClient, type GatewayClient, type RouteCounters } from "./gateway-client.ts";
export { parseMetrics, quantileOf, windowOf } from "./prometheus.ts";
export { decide, type LiveProgress, type PromoteOptions, runPromotion, stepWeights } from "./promote.ts";
export * from "./schema.ts";
export {
  createPromotionStore,
  isStale,
  LockHeldError,
  type PromotionStore,
  promotionsBucketName,
} from "./store.ts";
export { promotionHeadline, promotionViews, viewOf } from "./view.ts";
