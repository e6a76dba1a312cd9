export * from "./component.ts";
export * from "./run-service.ts";
export * from "./stop-in-order.ts";
