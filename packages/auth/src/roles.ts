/**
 * Fig roles. viewer < editor < admin are ordered: each can do everything the ones before it can.
 * `gate` (the load gates' role) stands outside that order: it reads (it satisfies `viewer`) and may pin an
 * upstream at the gateway (`x-fig-route`), nothing else; no other role implies it.
 * `operator` stands outside it too: the control plane's role (the gateway's /_fig and console), which counts
 * only in the operator tenant (`isOperator`); it grants nothing inside a tenant and no tenant role implies it.
 */
export const ROLES = ["viewer", "editor", "admin", "gate", "operator"] as const;

export type Role = (typeof ROLES)[number];

// The rank a role counts as for the ordered roles; `gate` reads like a viewer; `operator` ranks below them all.
const rank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2, gate: 0, operator: -1 };

/** Whether `value` names a Fig role. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && Object.hasOwn(rank, value);
}

/**
 * Whether any of the roles a caller has is at least `need` (viewer < editor < admin). `gate` counts as a
 * viewer, and `need: "gate"` is met only by holding `gate` itself.
 *
 * @example
 * roleAtLeast(["admin"], "editor"); // true
 * roleAtLeast(["gate"], "viewer"); // true
 * roleAtLeast(["gate"], "editor"); // false
 * roleAtLeast(["admin"], "gate"); // false
 * roleAtLeast(["operator"], "viewer"); // false
 */
export function roleAtLeast(have: readonly Role[], need: Role): boolean {
  if (need === "gate" || need === "operator") return have.includes(need);
  return have.some((role) => rank[role] >= rank[need]);
}

/**
 * Whether the caller holds one of `roles` exactly (no ordering): for capabilities such as pinning.
 *
 * @example
 * hasAnyRole(["gate"], ["admin", "gate"]); // true
 */
export function hasAnyRole(have: readonly Role[], roles: readonly Role[]): boolean {
  return have.some((role) => roles.includes(role));
}

/**
 * Whether a caller is one of the platform's operators: role `operator` in the operator tenant. A tenant's
 * admin never is, and neither is an `operator` role minted in any other tenant.
 *
 * @example
 * isOperator({ tenant: "platform", roles: ["operator"] }, "platform"); // true
 * isOperator({ tenant: "acme", roles: ["admin", "operator"] }, "platform"); // false
 */
export function isOperator(
  claims: { tenant: string; roles: readonly Role[] } | undefined,
  operatorTenant: string,
): boolean {
  return claims !== undefined && claims.tenant === operatorTenant && claims.roles.includes("operator");
}
