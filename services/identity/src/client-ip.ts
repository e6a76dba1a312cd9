import type { Context } from "hono";

type AddressOwner = { requestIP?: (request: Request) => { address: string } | null };

/**
 * The login's client address: the peer's, or, when the peer is a trusted proxy (the gateway, which appends
 * the address it saw to X-Forwarded-For), the last X-Forwarded-For entry. An untrusted peer's header is ignored.
 * `*` trusts every peer: only where nothing but the gateway can reach the service (a container network).
 */
export function clientIpFrom(trustedProxies: readonly string[]) {
  const trusted = new Set(trustedProxies);
  return function clientIp(c: Context): string | null {
    const peer = (c.env as AddressOwner | undefined)?.requestIP?.(c.req.raw)?.address ?? null;
    if (!trusted.has("*") && (peer === null || !trusted.has(peer))) return peer;
    const forwarded = c.req.header("x-forwarded-for")?.split(",").at(-1)?.trim();
    return forwarded || peer;
  };
}
