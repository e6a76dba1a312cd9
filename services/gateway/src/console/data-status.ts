/**
 * Data sync status per stateful route, as `migrate-data status` reports it (packages/datasync), read
 * leniently from `GET /_fig/data`: write owner comes from the live route state; lag, verify and backfill
 * from the sync's own records once it publishes them.
 */
export type DataStatus = {
  route: string;
  syncLagMs: { p50: number | null; p99: number | null } | null;
  lastVerify: { at: string | null; ok: boolean; detail: string | null; differences: string[] } | null;
  backfill: {
    done: number;
    total: number;
    rowsPerSecond: number | null;
    etaSeconds: number | null;
    running: boolean;
  } | null;
};

export type DataStatusSource = (authorization: string) => Promise<DataStatus[] | { error: string } | null>;

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === "object" && v !== null ? (v as Loose) : {});
const num = (...vs: unknown[]): number | null => {
  for (const v of vs) if (typeof v === "number" && Number.isFinite(v)) return v;
  return null;
};
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

export function dataStatusOf(raw: unknown): DataStatus | null {
  const r = obj(raw);
  const route = str(r.route);
  if (!route) return null;
  const lag = obj(r.syncLag ?? r.lag);
  const verify = r.lastVerify ?? r.verify;
  const backfill = r.backfill;
  const v = obj(verify);
  const b = obj(backfill);
  return {
    route,
    syncLagMs:
      r.syncLag === undefined && r.lag === undefined
        ? null
        : { p50: num(lag.p50Ms, lag.p50), p99: num(lag.p99Ms, lag.p99) },
    lastVerify:
      verify === undefined || verify === null
        ? null
        : {
            at: str(v.at),
            ok: v.ok === true || v.result === "pass",
            detail: str(v.detail ?? v.summary),
            differences: (Array.isArray(v.differences) ? v.differences : [])
              .map((d) => {
                const o = obj(d);
                return str(o.key)
                  ? `${str(o.table) ?? ""}/${str(o.key)} (${str(o.kind) ?? "different"})`
                  : null;
              })
              .filter((d): d is string => d !== null),
          },
    backfill:
      backfill === undefined || backfill === null
        ? null
        : {
            done: num(b.done, b.copied, b.rows) ?? 0,
            total: num(b.total) ?? 0,
            rowsPerSecond: num(b.rowsPerSecond),
            etaSeconds: num(b.etaSeconds),
            running: b.running === true,
          },
  };
}

/** Reads `GET /_fig/data` in-process with the console user's token; null while no such endpoint exists. */
export function adminApiDataStatus(
  request: (path: string, init: RequestInit) => Response | Promise<Response>,
): DataStatusSource {
  return async (authorization) => {
    const res = await request("/_fig/data", { headers: { authorization } });
    if (res.status === 404) return null;
    if (res.status === 401 || res.status === 403)
      return { error: `GET /_fig/data answered ${res.status}: reading sync status needs an operator token` };
    if (!res.ok) return { error: `GET /_fig/data answered ${res.status}` };
    const body = obj(await res.json());
    const list = Array.isArray(body.routes) ? body.routes : [];
    return list.map(dataStatusOf).filter((d): d is DataStatus => d !== null);
  };
}
