import type { MiddlewareHandler } from "hono";
import "./context.ts";
import { insufficientScopeError, invalidTokenError, missingTokenError } from "./challenge.ts";
import type { AuthClaims } from "./claims.ts";
import { type Role, roleAtLeast } from "./roles.ts";
import type { TokenVerifier } from "./verify.ts";

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function readBearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === "") throw missingTokenError("Missing bearer token");
  const [scheme = "", ...rest] = header.trim().split(/\s+/);
  // RFC 7235 §2.1: the auth-scheme is case-insensitive.
  if (scheme.toLowerCase() !== "bearer") {
    throw missingTokenError("Authorization header must use the Bearer scheme");
  }
  const [token] = rest;
  if (token === undefined) throw invalidTokenError("bearer token is empty");
  if (rest.length > 1 || !B64TOKEN.test(token)) throw invalidTokenError("token is malformed");
  return token;
}

/**
 * Admits only requests with a valid bearer token and puts its claims in `c.get("auth")`.
 *
 * @example
 * app.use("/api/*", requireAuth(createTokenVerifier(config)));
 * app.get("/api/me", (c) => c.json(c.get("auth")));
 */
export function requireAuth(verifier: TokenVerifier): MiddlewareHandler {
  return async function requireAuth(c, next) {
    const token = readBearerToken(c.req.header("authorization"));
    c.set("auth", await verifier.verifyBearerToken(token));
    await next();
  };
}

/**
 * Admits callers holding `role` or a stronger one (viewer < editor < admin); mount after `requireAuth`.
 *
 * @example
 * app.post("/api/codes", requireRole("editor"), createCode);
 */
export function requireRole(role: Role): MiddlewareHandler {
  return async function requireRole(c, next) {
    const auth: AuthClaims | undefined = c.get("auth");
    // A route that forgot requireAuth is a bug; fail closed and loudly rather than answer 401.
    if (!auth) throw new Error("requireRole must be mounted after requireAuth");
    if (!roleAtLeast(auth.roles, role)) {
      const held = auth.roles.length > 0 ? auth.roles.join(", ") : "no role";
      throw insufficientScopeError(`Requires role ${role} or higher; the token has ${held}`);
    }
    await next();
  };
}

/**
 * For routes meant for services: a service token (one that carries `scope`) must hold `scope`; a user token
 * (no `scope` claim) is judged by its roles alone. Mount after `requireAuth`.
 *
 * @example
 * router.on(["GET"], "/export", requireScope("reference:export"));
 */
export function requireScope(scope: string): MiddlewareHandler {
  return async function requireScope(c, next) {
    const auth: AuthClaims | undefined = c.get("auth");
    if (!auth) throw new Error("requireScope must be mounted after requireAuth");
    if (auth.scope !== undefined && !auth.scope.split(" ").includes(scope)) {
      throw insufficientScopeError(`Requires scope ${scope}; the token has ${auth.scope || "no scope"}`);
    }
    await next();
  };
}
