/**
 * Promotions as the console shows them, read leniently from `GET /_fig/promotions` (packages/promote's
 * records): fields the console does not know are ignored, missing numbers are shown as "—".
 */
export type StepVerdict = "pass" | "fail" | "inconclusive" | "running" | "pending" | "skipped";

export type PromotionStep = {
  index: number;
  weight: number;
  verdict: StepVerdict;
  p95Ms: number | null;
  errorRate: number | null;
  requests: number | null;
  reason: string | null;
  engine: string | null;
  startedAt: string | null;
  endedAt: string | null;
};

export type PromotionPoint = { at: number; weight: number; p95Ms: number | null; errorRate: number | null };

export type Promotion = {
  id: string;
  route: string;
  candidate: string;
  stable: string;
  status: "running" | "paused" | "succeeded" | "rolled-back" | "failed" | "interrupted";
  actor: string | null;
  reason: string | null;
  startedAt: string | null;
  endedAt: string | null;
  stepDurationMs: number | null;
  budgets: { p95Ms: number | null; errorRate: number | null };
  steps: PromotionStep[];
  /** Weight and candidate numbers over time, for the chart (from the record's samples, else its steps). */
  points: PromotionPoint[];
};

/** Where the console reads promotions; `null` means the gateway has no promotions endpoint (yet). */
export type PromotionsSource = (authorization: string) => Promise<Promotion[] | { error: string } | null>;

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === "object" && v !== null ? (v as Loose) : {});
const num = (...vs: unknown[]): number | null => {
  for (const v of vs) if (typeof v === "number" && Number.isFinite(v)) return v;
  return null;
};
const str = (...vs: unknown[]): string | null => {
  for (const v of vs) if (typeof v === "string" && v !== "") return v;
  return null;
};
const time = (v: unknown): number | null => {
  const s = str(v);
  const t = s ? Date.parse(s) : Number.NaN;
  return Number.isFinite(t) ? t : num(v);
};

const VERDICTS = new Set<StepVerdict>(["pass", "fail", "inconclusive", "running", "pending", "skipped"]);
const STATUSES = new Set<Promotion["status"]>([
  "running",
  "paused",
  "succeeded",
  "rolled-back",
  "failed",
  "interrupted",
]);

function stepOf(raw: unknown, index: number, candidate: string): PromotionStep {
  const s = obj(raw);
  const numbers = obj(s.numbers ?? s.metrics ?? s.gate);
  const weights = obj(s.weights);
  const verdict = String(s.verdict ?? s.status ?? "pending").toLowerCase();
  return {
    index,
    weight: num(s.weight, weights[candidate]) ?? 0,
    verdict: VERDICTS.has(verdict as StepVerdict)
      ? (verdict as StepVerdict)
      : verdict === "passed"
        ? "pass"
        : verdict === "failed"
          ? "fail"
          : "pending",
    p95Ms: num(s.p95Ms, numbers.p95Ms, numbers.p95),
    errorRate: num(s.errorRate, numbers.errorRate),
    requests: num(s.requests, numbers.requests, numbers.count),
    reason: str(s.reason, numbers.reason),
    engine: str(s.engine, numbers.engine),
    startedAt: str(s.startedAt, s.at),
    endedAt: str(s.endedAt, s.decidedAt),
  };
}

/** One record of `GET /_fig/promotions` to the console's shape; null when it is not a promotion. */
export function promotionOf(raw: unknown): Promotion | null {
  const p = obj(raw);
  const route = str(p.route);
  const candidate = str(p.candidate, p.to);
  if (!route || !candidate) return null;
  const budgets = obj(p.budgets ?? p.thresholds);
  const status = String(p.status ?? p.state ?? "running").toLowerCase();
  const steps = (Array.isArray(p.steps) ? p.steps : []).map((s, i) => stepOf(s, i, candidate));
  const samples = Array.isArray(p.samples) ? p.samples : [];
  const points: PromotionPoint[] = samples.length
    ? samples.flatMap((raw) => {
        const s = obj(raw);
        const at = time(s.at);
        return at === null
          ? []
          : [
              {
                at,
                weight: num(s.weight, obj(s.weights)[candidate]) ?? 0,
                p95Ms: num(s.p95Ms),
                errorRate: num(s.errorRate),
              },
            ];
      })
    : steps.flatMap((s) => {
        const at = time(s.startedAt);
        return at === null ? [] : [{ at, weight: s.weight, p95Ms: s.p95Ms, errorRate: s.errorRate }];
      });
  return {
    id: str(p.id) ?? `${route}@${str(p.startedAt) ?? "?"}`,
    route,
    candidate,
    stable: str(p.stable, p.from) ?? "monolith",
    status: STATUSES.has(status as Promotion["status"])
      ? (status as Promotion["status"])
      : status === "rolled_back" || status === "rolledback"
        ? "rolled-back"
        : "running",
    actor: str(p.actor, p.who, p.by),
    reason: str(p.reason, p.rollbackReason),
    startedAt: str(p.startedAt),
    endedAt: str(p.endedAt, p.finishedAt),
    stepDurationMs: num(p.stepDurationMs),
    budgets: { p95Ms: num(budgets.p95Ms, budgets.p95), errorRate: num(budgets.errorRate) },
    steps,
    points,
  };
}

/** The promotions of an answer of `GET /_fig/promotions` (`{ promotions: [...] }` or an array), newest first. */
export function promotionsOf(body: unknown): Promotion[] {
  const list = Array.isArray(body) ? body : obj(body).promotions;
  if (!Array.isArray(list)) return [];
  const out = list.map(promotionOf).filter((p): p is Promotion => p !== null);
  return out.sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""));
}

/** Reads promotions through the gateway's own admin API, in-process, with the console user's token. */
export function adminApiPromotions(
  request: (path: string, init: RequestInit) => Response | Promise<Response>,
): PromotionsSource {
  return async (authorization) => {
    const res = await request("/_fig/promotions", { headers: { authorization } });
    if (res.status === 404) {
      // The route itself missing (no promotions endpoint) is not the same as "no promotion yet".
      const body = (await res.json().catch(() => ({}))) as { detail?: string };
      return body.detail?.startsWith("No route for") ? null : [];
    }
    if (res.status === 401 || res.status === 403)
      return { error: `GET /_fig/promotions answered ${res.status}: reading promotions needs role admin` };
    if (!res.ok) return { error: `GET /_fig/promotions answered ${res.status}` };
    return promotionsOf(await res.json());
  };
}
