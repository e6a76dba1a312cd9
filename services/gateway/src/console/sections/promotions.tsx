/** @jsxImportSource hono/jsx */
import type { Promotion, PromotionStep } from "../promotions.ts";
import { type Failed, failed, type RouteRow, type Viewer } from "../sources.ts";
import { Badge, Chart, type ChartSpec, Empty, ms, pct, when } from "../ui.tsx";

const VERDICT_KIND: Record<string, string> = {
  pass: "ok",
  fail: "bad",
  inconclusive: "warn",
  running: "info",
  pending: "muted",
  skipped: "muted",
};

function chartOf(p: Promotion): ChartSpec {
  const points = p.points;
  const x = points.map((pt) => Math.round(pt.at / 1000));
  const series: ChartSpec["series"] = [
    {
      label: `${p.candidate} weight %`,
      values: points.map((pt) => pt.weight),
      scale: "pct",
      color: "#3461c1",
      step: true,
    },
    { label: "p95 ms", values: points.map((pt) => pt.p95Ms), scale: "ms", color: "#b3541e" },
    { label: "error rate", values: points.map((pt) => pt.errorRate), scale: "rate", color: "#b3261e" },
  ];
  if (p.budgets.p95Ms !== null)
    series.push({
      label: "p95 budget",
      values: x.map(() => p.budgets.p95Ms),
      scale: "ms",
      color: "#b3541e",
      dash: true,
    });
  if (p.budgets.errorRate !== null)
    series.push({
      label: "error budget",
      values: x.map(() => p.budgets.errorRate),
      scale: "rate",
      color: "#b3261e",
      dash: true,
    });
  return { x, series, extendToNow: p.status === "running" || p.status === "paused" };
}

function Steps(props: { p: Promotion }) {
  return (
    <table class="steps">
      <caption class="sr-only">Steps of the promotion of {props.p.route}</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Weight</th>
          <th scope="col">Verdict</th>
          <th scope="col">p95 (budget {ms(props.p.budgets.p95Ms)})</th>
          <th scope="col">Error rate (budget {pct(props.p.budgets.errorRate, 2)})</th>
          <th scope="col">Requests</th>
          <th scope="col">Why</th>
        </tr>
      </thead>
      <tbody>
        {props.p.steps.map((s: PromotionStep) => (
          <tr>
            <td>{s.index + 1}</td>
            <td>{s.weight} %</td>
            <td>
              <Badge kind={VERDICT_KIND[s.verdict] ?? "muted"}>{s.verdict}</Badge>
            </td>
            <td class={over(s.p95Ms, props.p.budgets.p95Ms)}>{ms(s.p95Ms)}</td>
            <td class={over(s.errorRate, props.p.budgets.errorRate)}>{pct(s.errorRate, 2)}</td>
            <td>{s.requests ?? "—"}</td>
            <td>
              {s.reason ?? ""}
              {s.engine ? <span class="muted"> ({s.engine})</span> : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const over = (v: number | null, budget: number | null) =>
  v !== null && budget !== null && v > budget ? "over" : "";

function timeLeft(p: Promotion, now: number): string {
  if (p.stepDurationMs === null || p.currentStep < 1) return "—";
  const started = Date.parse(p.currentSince ?? "");
  const inStep = Number.isFinite(started) ? Math.max(0, now - started) : 0;
  const remaining = (p.steps.length - p.currentStep + 1) * p.stepDurationMs - inStep;
  return ms(Math.max(0, remaining));
}

function PromotionActions(props: { p: Promotion }) {
  const { p } = props;
  // Pause and resume reach a live promote process; the gateway runs no load gate, so a promotion whose
  // process is gone (interrupted, killed) is resumed from a terminal, where the remaining steps run.
  const ops =
    p.status === "running"
      ? p.driven
        ? ["pause", "rollback"]
        : ["rollback"]
      : p.status === "paused"
        ? p.driven
          ? ["resume", "rollback"]
          : ["rollback"]
        : [];
  return (
    <div class="actions admin-only">
      {!p.driven && (p.status === "running" || p.status === "paused") ? (
        <p class="muted" data-testid="resume-from-cli">
          No promote process holds it now: resume from a terminal with{" "}
          <code>bun run promote resume {p.route}</code>, or roll it back here.
        </p>
      ) : null}
      {ops.map((op) => (
        <button
          type="button"
          data-action="promotion"
          data-op={op}
          data-route={p.route}
          aria-label={`${op} the promotion of ${p.route}`}
        >
          {op === "rollback" ? "Roll back…" : op === "pause" ? "Pause…" : "Resume…"}
        </button>
      ))}
    </div>
  );
}

function Live(props: { p: Promotion; now: number; viewer: Viewer; actions: boolean }) {
  const { p, now } = props;
  const current = Math.max(
    0,
    p.steps.findIndex((s) => s.verdict === "running" || s.verdict === "pending"),
  );
  const step = p.steps[current];
  return (
    <article class="card live" aria-labelledby={`promo-${p.id}`} data-promotion={p.id} data-status={p.status}>
      <h3 id={`promo-${p.id}`}>
        {p.route} → {p.candidate} <Badge kind={p.status === "running" ? "info" : "warn"}>{p.status}</Badge>
      </h3>
      <dl class="facts">
        <div>
          <dt>Step</dt>
          <dd data-testid="step">
            {current + 1} of {p.steps.length}
          </dd>
        </div>
        <div>
          <dt>Weight</dt>
          <dd>{step ? `${p.stable} ${100 - step.weight} % · ${p.candidate} ${step.weight} %` : "—"}</dd>
        </div>
        <div>
          <dt>Gate p95</dt>
          <dd class={over(step?.p95Ms ?? null, p.budgets.p95Ms)}>
            {ms(step?.p95Ms)} / budget {ms(p.budgets.p95Ms)}
          </dd>
        </div>
        <div>
          <dt>Gate error rate</dt>
          <dd class={over(step?.errorRate ?? null, p.budgets.errorRate)}>
            {pct(step?.errorRate ?? null, 2)} / budget {pct(p.budgets.errorRate, 2)}
          </dd>
        </div>
        <div>
          <dt>Time left</dt>
          <dd>{timeLeft(p, now)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>
            {when(p.startedAt)} by {p.actor ?? "—"}
          </dd>
        </div>
      </dl>
      {props.viewer.admin && props.actions ? <PromotionActions p={p} /> : null}
      <Chart
        id={`chart-promo-${p.id}`}
        label={`Promotion of ${p.route}: weight, p95 and error rate against budgets`}
        spec={chartOf(p)}
      />
      <Steps p={p} />
    </article>
  );
}

function Past(props: { p: Promotion; now: number }) {
  const { p } = props;
  const kind =
    p.status === "succeeded" ? "ok" : p.status === "rolled-back" || p.status === "failed" ? "bad" : "warn";
  return (
    <details class="card past" id={`past-${p.id}`} data-promotion={p.id} data-status={p.status}>
      <summary>
        <strong>
          {p.route} → {p.candidate}
        </strong>{" "}
        <Badge kind={kind}>{p.status}</Badge>{" "}
        <span class="muted">
          {when(p.startedAt)} · {p.steps.length} steps · {p.actor ?? "—"}
        </span>
        {p.reason ? <span class="reason"> — {p.reason}</span> : null}
        {p.status === "rolled-back" && p.rolledBackBy && !p.reason?.includes(p.rolledBackBy) ? (
          <span class="muted"> (rolled back by {p.rolledBackBy})</span>
        ) : null}
      </summary>
      <Chart
        id={`chart-promo-${p.id}`}
        label={`Promotion of ${p.route}: weight, p95 and error rate against budgets`}
        spec={chartOf(p)}
      />
      <Steps p={p} />
    </details>
  );
}

export function PromotionsSection(props: {
  promotions: Promotion[] | Failed | null;
  /** The live routes: the empty state's example names one of them. */
  routes: RouteRow[];
  viewer: Viewer;
  now: number;
  actions: boolean;
}) {
  const { promotions, viewer, now } = props;
  if (promotions === null || (Array.isArray(promotions) && promotions.length === 0)) {
    const example = props.routes.find((r) => r.candidate !== null);
    return (
      <Empty title="No promotion yet">
        <p>
          Start one from a terminal:{" "}
          <code>
            bun run promote {example?.id ?? "<route>"} --to {example?.candidate ?? "<service>"} --steps
            10,25,50,100
          </code>
          . It shows here live, step by step, with the gate's numbers.
        </p>
      </Empty>
    );
  }
  if (failed(promotions))
    return (
      <Empty title="Promotions cannot be read">
        <p>{promotions.error}</p>
      </Empty>
    );
  const live = promotions.filter((p) => p.status === "running" || p.status === "paused");
  const past = promotions.filter((p) => !live.includes(p));
  return (
    <div>
      <h3 class="sub">Running</h3>
      {live.length ? (
        live.map((p) => <Live p={p} now={now} viewer={viewer} actions={props.actions} />)
      ) : (
        <p class="muted">None running now.</p>
      )}
      <h3 class="sub">Past promotions ({past.length})</h3>
      {past.map((p) => (
        <Past p={p} now={now} />
      ))}
    </div>
  );
}
