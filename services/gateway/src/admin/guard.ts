import type { TokenVerifier } from "@fig/auth";
import { AppError } from "@fig/service";
import type { Context, MiddlewareHandler } from "hono";
import { authorize, identify } from "../policies/auth.ts";
import { limitFor, type RateLimiter, rateLimitHeaders } from "../policies/rate-limit.ts";
import type { RoutePolicies } from "../routes.ts";

export type FigGuardDeps = {
  verifier: TokenVerifier;
  limiter: RateLimiter;
  rateLimit: RoutePolicies["rateLimit"];
  clientIp: (c: Context) => string | undefined;
};

/**
 * The one guard of every /_fig router: identity, the `_fig` rate limit (RateLimit-* headers on every answer,
 * 429 past it), then the roles the router asks for reads and writes (401/403 problem+json).
 *
 * @example
 * router.use("*", figGuard(deps, { read: "admin", write: "admin" }));
 */
export function figGuard(
  { verifier, limiter, rateLimit, clientIp }: FigGuardDeps,
  roles: Parameters<typeof authorize>[0],
): MiddlewareHandler {
  return async function figGuard(c, next) {
    const identity = await identify(verifier, c.req.header("authorization"));
    const claims = identity.kind === "token" ? identity.claims : undefined;
    const decision = limiter.take(
      "_fig",
      claims?.sub ?? clientIp(c) ?? "unknown",
      limitFor(rateLimit, claims?.roles),
    );
    const headers = rateLimitHeaders(decision);
    for (const name in headers) c.header(name, headers[name]);
    if (!decision.allowed)
      throw new AppError("rate_limited", `Rate limit of ${decision.limit} requests per minute`);
    const verified = authorize(roles, c.req.method, identity);
    if (verified) c.set("auth", verified);
    await next();
  };
}
