import { mintDevToken, type ServiceTokenSource } from "@fig/auth";
import type { Row } from "./declared-table.ts";

/** Where a service reads the write owner's table when an event does not carry the rows (its HTTP API). */
export type OwnerApi = {
  url: string;
  /** A fixed bearer token, or how to mint a short-lived dev one (role viewer). */
  token?: string | undefined;
  /** Service tokens from the identity service (client credentials), used before a dev token is minted. */
  tokenSource?: ServiceTokenSource | undefined;
  dev?: { secret: string; issuer: string; audience: string } | undefined;
  /** Who asks (the token's `sub`). */
  caller: string;
};

async function bearer(api: OwnerApi): Promise<string> {
  if (api.token) return api.token;
  if (api.tokenSource) return api.tokenSource();
  if (!api.dev) throw new Error(`no token to read ${api.url}: set SYNC_TOKEN or AUTH_DEV_SECRET`);
  return mintDevToken({ ...api.dev, sub: api.caller, tenant: "fig-system", roles: ["viewer"], ttl: "5m" });
}

/**
 * The owner's whole table through a list API at `<url>/api/<table>` that pages with `limit`/`cursor` and answers
 * `{ items, nextCursor }` (rows with their version columns, which the applier orders by). A sync's
 * `readOwnerTable` for such an owner; called outside any transaction.
 */
export async function fetchOwnerTable(api: OwnerApi, table: string, signal?: AbortSignal): Promise<Row[]> {
  const token = await bearer(api);
  const rows: Row[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: "500", ...(cursor ? { cursor } : {}) });
    const timeout = AbortSignal.timeout(30_000);
    const res = await fetch(`${api.url}/api/${table}?${query}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (!res.ok) throw new Error(`${api.url}/api/${table}: HTTP ${res.status}`);
    const page = (await res.json()) as { items: Row[]; nextCursor: string | null };
    rows.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return rows;
}
