/** Fig roles, weakest first: each role can do everything the ones before it can. */
export const ROLES = ["viewer", "editor", "admin"] as const;

export type Role = (typeof ROLES)[number];

const rank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 };

/** Whether `value` names a Fig role. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && Object.hasOwn(rank, value);
}

/**
 * Whether any of the roles a caller has is at least `need` (viewer < editor < admin).
 *
 * @example
 * roleAtLeast(["admin"], "editor"); // true
 * roleAtLeast(["viewer"], "editor"); // false
 */
export function roleAtLeast(have: readonly Role[], need: Role): boolean {
  return have.some((role) => rank[role] >= rank[need]);
}
