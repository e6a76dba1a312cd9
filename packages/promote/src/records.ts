/** What the gateway (GET /_fig/promotions) and the console read: the record schema, the store, the views. */
export * from "./schema.ts";
export { createPromotionStore, isStale, type PromotionStore, promotionsBucketName } from "./store.ts";
export { promotionHeadline, promotionViews, viewOf } from "./view.ts";
