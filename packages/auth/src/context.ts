import type { AuthClaims } from "./claims.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The verified caller, set by `requireAuth`. */
    auth: AuthClaims;
  }
}
