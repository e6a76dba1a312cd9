import type { AuthClaims, TokenVerifier } from "@fig/auth";
import { AppError } from "@fig/service";
import type { Context } from "hono";
import type { RoutePolicies } from "../routes.ts";
import { authorize, type Identity, identify, identifyKnown } from "./auth.ts";
import { limitFor, type RateLimiter, rateLimitHeaders } from "./rate-limit.ts";

/** What a request is admitted against: a route of the table, or the admin API as the pseudo-route `_fig`. */
export type AdmissionScope = {
  id: string;
  policies: Pick<RoutePolicies, "auth" | "rateLimit">;
  /**
   * Admit only tokens of this tenant (the admin API: the operator tenant), checked after the roles: a role
   * the control plane grants means nothing when it was minted in a customer's tenant.
   */
  tenant?: string;
};

/**
 * An admitted request: its context, what it was admitted to, who it is, the key its rate limit counted
 * against and the RateLimit-* fields to answer with. The proxy forwards this object as its request.
 */
export type Admitted<S extends AdmissionScope = AdmissionScope> = {
  c: Context;
  scope: S;
  /** The verified token's claims; undefined without a token (possible only where auth is off). */
  claims: AuthClaims | undefined;
  clientIp: string | undefined;
  /** The token's `sub`, else the client's address: the rate limit's and the sticky weights' key. */
  consumer: string;
  /** This request's own object: the caller may add its answer's fields to it. */
  limitHeaders: Record<string, string>;
};

export type AdmissionDeps = {
  verifier: TokenVerifier;
  limiter: RateLimiter;
  /** The client's address (Bun's server.requestIP); the rate limit keys on it without a token. */
  clientIp: (c: Context) => string | undefined;
  /** Told of each request refused by its rate limit (a metric). */
  onRateLimited?: (scopeId: string) => void;
};

/**
 * Admits a request or throws its refusal. Without a promise when nothing needs one (no token, or a token the
 * verifier has verified moments ago: nearly every request); a promise when the token's signature is checked.
 * Await it either way; a hot caller may test for a promise first (one await and async frame less).
 */
export type Admission = <S extends AdmissionScope>(
  c: Context,
  scope: S,
) => Admitted<S> | Promise<Admitted<S>>;

/**
 * One admission step for every request the gateway answers itself or forwards: identify (bearer token) →
 * rate limit (token bucket per consumer and scope) → authorize (the scope's roles for the method, and its tenant
 * when it names one). A bad
 * token is counted before it is refused, so guessing tokens is not free. A refusal throws the 401/403/429
 * problem with the RateLimit-* fields already set on the context, as every answer carries them.
 *
 * @example
 * const admit = createAdmission({ verifier, limiter, clientIp });
 * const { claims, limitHeaders } = await admit(c, route);
 */
export function createAdmission({ verifier, limiter, clientIp, onRateLimited }: AdmissionDeps): Admission {
  function admitAs<S extends AdmissionScope>(c: Context, scope: S, identity: Identity): Admitted<S> {
    const claims = identity.kind === "token" ? identity.claims : undefined;
    // Asked once: Bun's requestIP() is a native call that builds a new object each time.
    const ip = clientIp(c);
    const consumer = claims?.sub ?? ip ?? "unknown";
    const decision = limiter.take(scope.id, consumer, limitFor(scope.policies.rateLimit, claims?.roles));
    const limitHeaders = rateLimitHeaders(decision);
    try {
      if (!decision.allowed) {
        onRateLimited?.(scope.id);
        throw new AppError(
          "rate_limited",
          `Rate limit of ${decision.limit} requests per minute on route ${scope.id}`,
          { extensions: { route: scope.id } },
        );
      }
      authorize(scope.policies.auth, c.req.method, identity);
      if (scope.tenant !== undefined && claims !== undefined && claims.tenant !== scope.tenant) {
        throw new AppError(
          "forbidden",
          `Requires a token of tenant ${scope.tenant}; the token is of ${claims.tenant}`,
          {
            headers: { "www-authenticate": 'Bearer error="insufficient_scope"' },
          },
        );
      }
    } catch (error) {
      // The problem answer (onError, from the context) carries the RateLimit-* fields as every answer does.
      for (const name in limitHeaders) c.header(name, limitHeaders[name]);
      throw error;
    }
    return { c, scope, claims, clientIp: ip, consumer, limitHeaders };
  }

  return function admit(c, scope) {
    const header = c.req.header("authorization");
    const known = identifyKnown(verifier, header);
    if (known !== undefined) return admitAs(c, scope, known);
    return admitVerified(c, scope, header);
  };

  /** Admission after the token's signature check (a separate function: see breaker.ts's executeCall). */
  async function admitVerified<S extends AdmissionScope>(
    c: Context,
    scope: S,
    header: string | undefined,
  ): Promise<Admitted<S>> {
    return admitAs(c, scope, await identify(verifier, header));
  }
}
