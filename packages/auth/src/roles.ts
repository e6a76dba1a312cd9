/**
 * Fig roles. viewer < editor < admin are ordered: each can do everything the ones before it can.
 * `gate` (the load gates' role) stands outside that order: it reads (it satisfies `viewer`) and may pin an
 * upstream at the gateway (`x-fig-route`), nothing else; no other role implies it.
 */
export const ROLES = ["viewer", "editor", "admin", "gate"] as const;

export type Role = (typeof ROLES)[number];

// The rank a role counts as for the ordered roles; `gate` reads like a viewer.
const rank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2, gate: 0 };

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
 */
export function roleAtLeast(have: readonly Role[], need: Role): boolean {
  if (need === "gate") return have.includes("gate");
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
