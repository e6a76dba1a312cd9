export * from "./config.ts";
export * from "./database.ts";
export * from "./nats.ts";
export * from "./tokens.ts";
