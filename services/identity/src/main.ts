import { createTokenVerifier } from "@fig/auth";
import { runService } from "@fig/bootstrap";
import { buildApp, SERVICE } from "./app.ts";
import { clientIpFrom } from "./client-ip.ts";
import { loadConfig } from "./config.ts";
import type { IdentityContext } from "./domain/context.ts";
import { createKeyCipher, createOwnKeyResolver, createSigner, ensureSigningKeys } from "./domain/keys.ts";
import { DEV_CLIENTS, seedDevelopment } from "./domain/seed.ts";

await runService({
  service: SERVICE,
  loadConfig,
  database: { migrationsFolder: new URL("../drizzle", import.meta.url) },
  // Publishes the outbox: identity.* events (logins, revocations, user changes, rotations) for the audit log.
  events: { relay: true },
  build: async ({ config, database, logger, tracer, readiness, lifecycle }) => {
    const { db } = database;
    const cipher = await createKeyCipher(config.IDENTITY_KEY_ENCRYPTION_KEY);
    await ensureSigningKeys(db, cipher);
    if (config.seed) await seedDevelopment(db, config.IDENTITY_DEV_TENANTS);
    const { auth } = config;
    const identity: IdentityContext = {
      db,
      signer: createSigner(db, cipher),
      tokens: {
        issuer: auth.issuer,
        audience: auth.audience,
        accessTtlSeconds: config.IDENTITY_ACCESS_TTL_S,
      },
      throttle: {
        accountMaxFailures: config.LOGIN_ACCOUNT_MAX_FAILURES,
        ipMaxFailures: config.LOGIN_IP_MAX_FAILURES,
        windowSeconds: config.LOGIN_WINDOW_S,
        lockoutSeconds: config.LOGIN_LOCKOUT_S,
      },
      refreshTtlSeconds: config.IDENTITY_REFRESH_TTL_S,
    };
    // Its own tokens are checked against its own key store (no HTTP to itself); dev tokens outside production.
    const verifier = createTokenVerifier({
      issuer: auth.issuer,
      audience: auth.audience,
      keys: createOwnKeyResolver(db, (config.IDENTITY_ACCESS_TTL_S + 60) * 1000),
      algorithms: ["EdDSA"],
      ...(auth.devSecret ? { devSecret: auth.devSecret } : {}),
      clockToleranceSeconds: auth.clockToleranceSeconds,
    });
    return {
      app: buildApp({
        identity,
        verifier,
        clientIp: clientIpFrom(config.TRUSTED_PROXIES),
        publicUrl: config.IDENTITY_PUBLIC_URL,
        scopes: [...new Set(DEV_CLIENTS.flatMap((client) => client.scopes))],
        logger,
        tracer,
        readiness,
        lifecycle,
      }),
      summary: { seeded: config.seed ? config.IDENTITY_DEV_TENANTS : "off" },
    };
  },
});
