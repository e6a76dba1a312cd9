import type { TokenVerifier } from "@fig/auth";
import type { Context } from "hono";
import type { IdentityContext } from "./domain/context.ts";

/** What the HTTP routes need; built in main.ts (or a test) and passed in. */
export type ServiceDeps = {
  identity: IdentityContext;
  /** Verifies bearer tokens on /api/users: this service's own keys, and the dev secret in development. */
  verifier: TokenVerifier;
  /** The client's address, for per-address login throttling; null when unknown. */
  clientIp: (c: Context) => string | null;
  /** The base URL clients reach this service at (through the gateway), for the discovery document. */
  publicUrl: string;
  /** Scopes the discovery document lists. */
  scopes: string[];
};
