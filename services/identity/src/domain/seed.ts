import type { Database } from "@fig/db";
import { upsertClient } from "./clients.ts";
import { hashPassword } from "./passwords.ts";
import { ensureActiveUser } from "./users.ts";

// Development only (main.ts refuses it in production): a user per role in each dev tenant and the clients the
// other services use, with public, documented credentials (docs/identity.md).

export const DEV_PASSWORD = "fig-dev-password";
export const DEV_ROLES = ["admin", "editor", "viewer"] as const;

/** The dev clients: id, scopes. Each secret is `dev-secret-<id>`. */
export const DEV_CLIENTS = [
  { id: "validation", scopes: ["reference:export", "reference:read"] },
  { id: "reference-data", scopes: ["reference:read"] },
  { id: "monolith", scopes: ["reference:read"] },
] as const;

export const devClientSecret = (id: string) => `dev-secret-${id}`;

/** `<role>@<tenant>.test` with DEV_PASSWORD in every tenant; left as they are when they exist. */
export async function seedDevelopment(db: Database, tenants: string[]): Promise<void> {
  // One argon2id hash (tens of ms of CPU each) for every seeded user: they share the public dev password,
  // and a cold `bun run dev` would otherwise hash it once per user.
  let shared: Promise<string> | undefined;
  const hash = () => {
    shared ??= hashPassword(DEV_PASSWORD);
    return shared;
  };
  for (const tenant of tenants)
    for (const role of DEV_ROLES)
      await ensureActiveUser(db, {
        tenant,
        email: `${role}@${tenant}.test`,
        password: DEV_PASSWORD,
        roles: [role],
        by: "dev-seed",
        hash,
      });
  for (const client of DEV_CLIENTS)
    await upsertClient(db, {
      id: client.id,
      secret: devClientSecret(client.id),
      tenant: "fig-system",
      roles: ["viewer"],
      scopes: [...client.scopes],
    });
}
