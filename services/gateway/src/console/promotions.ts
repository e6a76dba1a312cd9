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
  /** Weight and candidate numbers over time, for the chart (weight changes and measurement windows). */
  points: PromotionPoint[];
  /** 1..N; 0 the shadow step; -1 not started. */
  currentStep: number;
  /** When the current step's weights were set. */
  currentSince: string | null;
  /** A live promote process holds this promotion's lock: pause and resume from the page reach it. */
  driven: boolean;
  /** Who rolled it back (the actor of its last rollback event), when it was. */
  rolledBackBy: string | null;
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

/** The budget a threshold expression sets: `p(95)<500` → 500, `rate<0.01` → 0.01. */
function budgetOf(expression: unknown): number | null {
  const m = /[<]=?\s*([0-9.]+)\s*$/.exec(String(expression ?? ""));
  return m ? Number(m[1]) : null;
}

function budgetsOf(decisions: Loose[]): Promotion["budgets"] {
  const out: Promotion["budgets"] = { p95Ms: null, errorRate: null };
  for (const d of decisions)
    for (const source of [obj(d.gateway), obj(d.gate)])
      for (const raw of Array.isArray(source.thresholds) ? source.thresholds : []) {
        const t = obj(raw);
        if (t.key === "http_req_duration" && out.p95Ms === null) out.p95Ms = budgetOf(t.expression);
        if (t.key === "http_req_failed" && out.errorRate === null) out.errorRate = budgetOf(t.expression);
      }
  return out;
}

/** The candidate's own numbers behind a decision: the gateway's window (candidate only), else the gate's. */
function numbersOf(d: Loose) {
  const gateway = obj(obj(d.gateway).numbers);
  const gate = obj(obj(d.gate).numbers);
  return {
    p95Ms: num(gateway.p95, gate.p95),
    errorRate: num(gateway.errorRate, gate.errorRate),
    requests: num(gateway.requests, gate.requests),
  };
}

const STATE: Record<string, Promotion["status"]> = {
  running: "running",
  paused: "paused",
  promoted: "succeeded",
  succeeded: "succeeded",
  "rolled-back": "rolled-back",
  rolled_back: "rolled-back",
  superseded: "interrupted",
  failed: "failed",
};

/**
 * One record of `GET /_fig/promotions` (packages/promote's PromotionView: `steps` are the weights, one
 * `decisions[]` entry per measurement window with its numbers) to the console's shape; null otherwise.
 */
export function promotionOf(raw: unknown): Promotion | null {
  const p = obj(raw);
  const route = str(p.route);
  const candidate = str(p.candidate);
  if (!route || !candidate) return null;
  const weights = (Array.isArray(p.steps) ? p.steps : []).filter((w): w is number => typeof w === "number");
  const decisions = (Array.isArray(p.decisions) ? p.decisions : []).map(obj);
  const events = (Array.isArray(p.events) ? p.events : []).map(obj);
  const status = STATE[String(p.effectiveState ?? p.state ?? "running")] ?? "running";
  const current = num(p.step) ?? 0;
  const steps: PromotionStep[] = weights.map((weight, i) => {
    const n = i + 1;
    // The last window of a step is its verdict (inconclusive ones hold and measure again).
    const d = decisions.filter((x) => x.step === n).at(-1);
    const numbers = d ? numbersOf(d) : { p95Ms: null, errorRate: null, requests: null };
    const verdict = String(d?.verdict ?? "");
    const live = status === "running" || status === "paused";
    return {
      index: i,
      weight,
      verdict:
        verdict === "pass" || verdict === "fail" || (verdict === "inconclusive" && !(live && n === current))
          ? (verdict as StepVerdict)
          : n === current && live
            ? "running"
            : n < current
              ? "skipped"
              : "pending",
      ...numbers,
      reason: str(d?.reason),
      engine: str(obj(d?.gate).engine),
      startedAt: str(d?.startedAt),
      endedAt: str(d?.at),
    };
  });
  const points: PromotionPoint[] = [];
  for (const e of events) {
    const at = time(e.at);
    const w = obj(e.weights)[candidate];
    if (at !== null && typeof w === "number") points.push({ at, weight: w, p95Ms: null, errorRate: null });
  }
  for (const d of decisions) {
    const at = time(d.at);
    const w = obj(d.weights)[candidate];
    if (at === null || typeof w !== "number") continue;
    const { p95Ms, errorRate } = numbersOf(d);
    points.push({ at, weight: w, p95Ms, errorRate });
  }
  points.sort((a, b) => a.at - b.at);
  const lastWeights = [...events].reverse().find((e) => e.what === "weights");
  return {
    id: str(p.id) ?? `${route}@${str(p.startedAt) ?? "?"}`,
    route,
    candidate,
    // Older records name no stable side: the other upstream of its first weights change.
    stable: str(p.stable) ?? (Object.keys(obj(events[0]?.weights)).find((k) => k !== candidate) || "stable"),
    status,
    actor: str(p.actor),
    reason: str(p.reason),
    startedAt: str(p.startedAt),
    endedAt: str(p.finishedAt),
    stepDurationMs: num(p.stepDurationMs),
    budgets: budgetsOf(decisions),
    steps,
    points,
    currentStep: current,
    currentSince: str(lastWeights?.at),
    driven: p.interrupted !== true && obj(p.lock).stale === false,
    rolledBackBy: str([...events].reverse().find((e) => e.what === "rollback")?.actor),
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
      return {
        error: `GET /_fig/promotions answered ${res.status}: reading promotions needs an operator token`,
      };
    if (!res.ok) return { error: `GET /_fig/promotions answered ${res.status}` };
    return promotionsOf(await res.json());
  };
}
