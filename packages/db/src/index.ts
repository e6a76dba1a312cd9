export * from "./database.ts";
export * from "./tenant.ts";
