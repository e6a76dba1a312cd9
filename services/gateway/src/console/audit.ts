import type { AuditEntry } from "@fig/audit";

/** The newest entries of the audit log, read through GET /_fig/audit with the operator's own token. */
export type AuditSource = (authorization: string) => Promise<AuditEntry[] | { error: string } | null>;

/** How many entries the console shows; older ones are a filter away at GET /_fig/audit. */
export const AUDIT_SHOWN = 50;

export function adminApiAudit(
  request: (path: string, init: RequestInit) => Response | Promise<Response>,
): AuditSource {
  return async (authorization) => {
    const res = await request(`/_fig/audit?limit=${AUDIT_SHOWN}`, { headers: { authorization } });
    if (res.status === 404) return null;
    if (res.status === 401 || res.status === 403)
      return {
        error: `GET /_fig/audit answered ${res.status}: reading the audit log needs an operator token`,
      };
    if (!res.ok) {
      const detail = ((await res.json().catch(() => ({}))) as { detail?: string }).detail;
      return { error: `GET /_fig/audit answered ${res.status}${detail ? `: ${detail}` : ""}` };
    }
    const body = (await res.json()) as { items?: AuditEntry[] };
    return Array.isArray(body.items) ? body.items : [];
  };
}
