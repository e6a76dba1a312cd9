export * from "./config.ts";
export * from "./database.ts";
export * from "./dev-databases.ts";
export * from "./embedded.ts";
export * from "./tenant.ts";
export * from "./wire-server.ts";
