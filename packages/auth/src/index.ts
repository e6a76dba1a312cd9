import "./context.ts";

export type { AuthClaims } from "./claims.ts";
export { AuthClaimsSchema } from "./claims.ts";
export type { AuthConfig } from "./config.ts";
export {
  devScriptEnv,
  loadAuthConfigFromProcess,
  readAuthConfig,
  readServiceAuthConfig,
  resolveDevSecret,
} from "./config.ts";
export {
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  DEV_SECRET_DEFAULT,
  MIN_DEV_SECRET_BYTES,
  withDevAuthDefaults,
} from "./defaults.ts";
export { requireAuth, requireRole, requireScope } from "./middleware.ts";
export type { MintDevTokenOptions } from "./mint.ts";
export { mintDevToken } from "./mint.ts";
export type { Role } from "./roles.ts";
export { hasAnyRole, isOperator, isRole, ROLES, roleAtLeast } from "./roles.ts";
export type { ClientCredentials, ServiceTokenSource, ServiceTokenSourceOptions } from "./service-token.ts";
export { createServiceTokenSource } from "./service-token.ts";
export { parseTtlSeconds } from "./ttl.ts";
export type { TokenVerifier, TokenVerifierOptions } from "./verify.ts";
export { ASYMMETRIC_ALGORITHMS, createTokenVerifier } from "./verify.ts";
