import type { MiddlewareHandler } from "hono";
import type { Admission, AdmissionScope } from "../policies/admission.ts";
import type { RoutePolicies } from "../routes.ts";

export type FigGuardDeps = {
  admission: Admission;
  /** The admin API's rate limit (the default route's: an operator is limited as any other client). */
  rateLimit: RoutePolicies["rateLimit"];
  /** The tenant whose `operator` tokens steer the gateway (FIG_OPERATOR_TENANT, default `platform`). */
  operatorTenant: string;
  /** Paths under /_fig that answer for themselves and are not admitted here (the console checks its own token). */
  ownAuth: readonly string[];
};

/**
 * The guard in front of all of /_fig, run once per request: the gateway's admission step with `_fig` as the
 * rate limit's scope. Every method of every path needs an operator (role `operator` in the operator tenant):
 * the control plane moves every tenant's traffic and shows every tenant's data (shadow diffs, dead letters),
 * so no tenant's role reaches it. Unknown paths are refused before they are a 404, so the admin API's shape
 * is not readable without an operator token, and a refused write never reaches its lookup.
 *
 * @example
 * app.use("/_fig/*", figGuard({ admission, rateLimit, operatorTenant: "platform", ownAuth: ["/_fig/console"] }));
 */
export function figGuard({ admission, rateLimit, operatorTenant, ownAuth }: FigGuardDeps): MiddlewareHandler {
  const operators: AdmissionScope = {
    id: "_fig",
    policies: { auth: { read: "operator", write: "operator" }, rateLimit },
    tenant: operatorTenant,
  };
  const answersItself = (path: string) => ownAuth.some((p) => path === p || path.startsWith(`${p}/`));
  return async function figGuard(c, next) {
    if (answersItself(c.req.path)) return next();
    const { claims, limitHeaders } = await admission(c, operators);
    for (const name in limitHeaders) c.header(name, limitHeaders[name]);
    if (claims) c.set("auth", claims);
    await next();
  };
}

/** The docs group every /_fig operation is listed under (each declares `security: bearerSecurity` too). */
export const ADMIN_TAGS = ["Gateway admin"];
