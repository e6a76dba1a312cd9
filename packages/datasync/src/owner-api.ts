import { mintDevToken } from "@fig/auth";
import type { ResourceSpec, Row } from "@fig/reference";

/** Where a service reads the write owner's table when an event does not carry the rows (its HTTP API). */
export type OwnerApi = {
  url: string;
  /** A fixed bearer token, or how to mint a short-lived dev one (role viewer). */
  token?: string | undefined;
  dev?: { secret: string; issuer: string; audience: string } | undefined;
  /** Who asks (the token's `sub`). */
  caller: string;
};

async function bearer(api: OwnerApi): Promise<string> {
  if (api.token) return api.token;
  if (!api.dev) throw new Error(`no token to read ${api.url}: set SYNC_TOKEN or AUTH_DEV_SECRET`);
  return mintDevToken({ ...api.dev, sub: api.caller, tenant: "fig-system", roles: ["viewer"], ttl: "5m" });
}

/**
 * The owner's whole table through its list API, page by page in key order. The list (unlike the CSV export)
 * carries `version` and `updated_at`, which the applier orders by. Called outside any transaction.
 */
export async function fetchOwnerTable(
  api: OwnerApi,
  spec: ResourceSpec,
  signal?: AbortSignal,
): Promise<Row[]> {
  const token = await bearer(api);
  const rows: Row[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: "500", ...(cursor ? { cursor } : {}) });
    const timeout = AbortSignal.timeout(30_000);
    const res = await fetch(`${api.url}/api/${spec.resource}?${query}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (!res.ok) throw new Error(`${api.url}/api/${spec.resource}: HTTP ${res.status}`);
    const page = (await res.json()) as { items: Row[]; nextCursor: string | null };
    rows.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return rows;
}
