import type { MiddlewareHandler } from "hono";
import type { Admission, AdmissionScope } from "../policies/admission.ts";
import type { RoutePolicies } from "../routes.ts";

export type FigGuardDeps = {
  admission: Admission;
  /** The admin API's rate limit (the default route's: an operator is limited as any other client). */
  rateLimit: RoutePolicies["rateLimit"];
  /** Paths under /_fig that answer for themselves and are not admitted here (the console checks its own token). */
  ownAuth: readonly string[];
};

/** The /_fig reads a viewer may make: the console's Data tab reads the data status. */
const VIEWER_READS = new Set(["/_fig/data"]);

/**
 * The guard in front of all of /_fig, run once per request: the gateway's admission step with `_fig` as the
 * rate limit's scope. Role admin for everything but the viewer reads above; unknown paths are refused
 * before they are a 404, so the admin API's shape is not readable without a token.
 *
 * @example
 * app.use("/_fig/*", figGuard({ admission, rateLimit, ownAuth: ["/_fig/console"] }));
 */
export function figGuard({ admission, rateLimit, ownAuth }: FigGuardDeps): MiddlewareHandler {
  const admin: AdmissionScope = {
    id: "_fig",
    policies: { auth: { read: "admin", write: "admin" }, rateLimit },
  };
  const viewer: AdmissionScope = {
    id: "_fig",
    policies: { auth: { read: "viewer", write: "admin" }, rateLimit },
  };
  const answersItself = (path: string) => ownAuth.some((p) => path === p || path.startsWith(`${p}/`));
  return async function figGuard(c, next) {
    const path = c.req.path;
    if (answersItself(path)) return next();
    const { claims, limitHeaders } = await admission(c, VIEWER_READS.has(path) ? viewer : admin);
    for (const name in limitHeaders) c.header(name, limitHeaders[name]);
    if (claims) c.set("auth", claims);
    await next();
  };
}

/** The docs group every /_fig operation is listed under (each declares `security: bearerSecurity` too). */
export const ADMIN_TAGS = ["Gateway admin"];
