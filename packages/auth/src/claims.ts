import { z } from "zod";
import { ROLES } from "./roles.ts";

/** The Fig claims a verified token must carry, beyond the registered ones jose checks. */
export const AuthClaimsSchema = z.object({
  sub: z.string().min(1),
  tenant: z.string().min(1),
  roles: z.array(z.enum(ROLES)),
  /** Service tokens (the client-credentials grant) carry their scopes, space-separated (RFC 8693 §4.2). */
  scope: z.string().optional(),
});

/** Who is calling: the verified identity a request handler reads from `c.get("auth")`. */
export type AuthClaims = z.infer<typeof AuthClaimsSchema>;
