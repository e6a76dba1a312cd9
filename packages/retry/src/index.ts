export * from "./backoff.ts";
export * from "./retry.ts";
