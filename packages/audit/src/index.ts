export * from "./chain.ts";
export * from "./entry.ts";
export * from "./publish.ts";
export * from "./schema.ts";
