import "./context.ts";

export * from "./access-log.ts";
export * from "./config.ts";
export * from "./create-app.ts";
export * from "./cursor.ts";
export { type DocsOptions, docsRoutes } from "./docs.ts";
export * from "./domain-error.ts";
export * from "./faults.ts";
export * from "./fields.ts";
export * from "./logger.ts";
export * from "./metrics.ts";
export { routePatternOf } from "./observe.ts";
export * from "./operations.ts";
export * from "./problem.ts";
export * from "./serve.ts";
export * from "./tracing.ts";
