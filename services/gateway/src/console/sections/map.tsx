/** @jsxImportSource hono/jsx */
import type { SharePoint } from "../sampler.ts";
import type { RouteRow, Viewer } from "../sources.ts";
import { Badge, Chart, type ChartSpec, Empty, ms, pct, rate, WeightBar, when } from "../ui.tsx";

function shareSpec(points: SharePoint[]): ChartSpec {
  return {
    x: points.map((p) => Math.round(p.at / 1000)),
    series: [
      {
        label: "served by new services",
        values: points.map((p) => (p.newShare === null ? null : Math.round(p.newShare * 1000) / 10)),
        scale: "pct",
        color: "#2f7d4a",
      },
    ],
  };
}

function weightSpec(route: RouteRow): ChartSpec {
  const steps = route.weightSteps;
  return {
    extendToNow: true,
    x: steps.map((s) => Math.round(s.at / 1000)),
    series: [
      {
        label: `${route.candidate} weight`,
        values: steps.map((s) => s.weight),
        scale: "pct",
        color: "#3461c1",
        step: true,
      },
    ],
  };
}

/** Where the route's writes go: the owner for `owner` routes; otherwise the weights place each write. */
function writesLabel(route: Pick<RouteRow, "writes" | "writeOwner">): string {
  return route.writes === "owner"
    ? `writes → ${route.writeOwner} (write owner)`
    : `writes → where weights send them (${route.writes})`;
}

function Health(props: { u: RouteRow["upstreams"][number] }) {
  const { u } = props;
  const kind =
    u.breaker === "closed" ? "ok" : u.breaker === "none" ? "muted" : u.breaker === "open" ? "bad" : "warn";
  return (
    <li class="health">
      <strong>{u.name}</strong>{" "}
      <Badge kind={kind}>{u.breaker === "none" ? "no breaker" : `breaker ${u.breaker}`}</Badge>
      <span class="nums">
        {rate(u.stats.rps)} req/s · err {pct(u.stats.errorRate)} · p95 {ms(u.stats.p95Ms)}
      </span>
    </li>
  );
}

function RouteActions(props: { route: RouteRow }) {
  const { route } = props;
  const weights = Object.fromEntries(route.upstreams.map((u) => [u.name, u.weight]));
  return (
    <div class="actions admin-only">
      {route.upstreams.length > 1 ? (
        <button
          type="button"
          data-action="weights"
          data-route={route.id}
          data-weights={JSON.stringify(weights)}
          data-revision={String(route.revision)}
          aria-label={`Set weights of ${route.id}`}
        >
          Set weights…
        </button>
      ) : null}
      <button
        type="button"
        data-action="state"
        data-route={route.id}
        data-state={route.state === "active" ? "inactive" : "active"}
        data-revision={String(route.revision)}
        aria-label={`${route.state === "active" ? "Deactivate" : "Activate"} ${route.id}`}
      >
        {route.state === "active" ? "Set inactive…" : "Set active…"}
      </button>
    </div>
  );
}

/** The migration map: every route, its weights, its upstreams' health, and the share strangled so far. */
export function MapSection(props: { routes: RouteRow[]; share: SharePoint[]; viewer: Viewer }) {
  const { routes, share, viewer } = props;
  const latest = [...share].reverse().find((p) => p.newShare !== null);
  const carved = routes.filter((r) => r.candidate !== null);
  return (
    <div>
      <div class="summary">
        <div class="stat">
          <span class="stat-value" data-testid="new-share">
            {latest ? pct(latest.newShare) : "—"}
          </span>
          <span class="stat-label">of requests served by new services (last sample)</span>
        </div>
        <div class="stat">
          <span class="stat-value">{carved.length}</span>
          <span class="stat-label">routes carved out of the monolith</span>
        </div>
        <div class="stat">
          <span class="stat-value">
            {carved.filter((r) => r.upstreams.some((u) => u.name === r.candidate && u.weight === 100)).length}
          </span>
          <span class="stat-label">at 100 % on the new service</span>
        </div>
      </div>
      {share.filter((p) => p.newShare !== null).length > 1 ? (
        <Chart
          id="chart-share"
          label="Share of requests served by new services over time (%)"
          spec={shareSpec(share)}
          height={140}
        />
      ) : (
        <Empty title="No traffic sampled yet">
          <p>
            The share of requests served by new services appears once requests go through the gateway (sampled
            every few seconds).
          </p>
        </Empty>
      )}
      <table class="routes">
        <caption class="sr-only">Routes with state, weights and upstream health</caption>
        <thead>
          <tr>
            <th scope="col">Route</th>
            <th scope="col">State</th>
            <th scope="col">Weights (monolith ↔ new service)</th>
            <th scope="col">Upstream health (last minute)</th>
            {viewer.admin ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {routes.map((route) => (
            <tr id={`route-${route.id}`} data-route={route.id}>
              <th scope="row">
                <span class="route-id">{route.id}</span>
                <span class="prefixes">{route.prefixes.join(" ")}</span>
                <details id={`hist-${route.id}`}>
                  <summary>history (rev {route.revision})</summary>
                  <ol class="history">
                    {route.history.map((h) => (
                      <li>
                        <time>{when(h.at)}</time> <strong>{h.who}</strong> {h.what}: {JSON.stringify(h.to)}
                        {h.why ? <em> — {h.why}</em> : null}
                      </li>
                    ))}
                  </ol>
                </details>
              </th>
              <td>
                <Badge kind={route.state === "active" ? "ok" : "muted"}>{route.state}</Badge>
                <span class="owner" data-writes={route.writes}>
                  {writesLabel(route)}
                </span>
              </td>
              <td class="weights">
                <WeightBar route={route.id} weights={route.upstreams} />
                {route.candidate && route.weightSteps.length > 1 ? (
                  <Chart
                    id={`chart-weight-${route.id}`}
                    label={`${route.candidate} weight over time (%)`}
                    spec={weightSpec(route)}
                    height={60}
                  />
                ) : null}
              </td>
              <td>
                <ul class="healths">
                  {route.upstreams.map((u) => (
                    <Health u={u} />
                  ))}
                </ul>
              </td>
              {viewer.admin ? (
                <td>
                  <RouteActions route={route} />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
