/** @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";

/** A line chart the client script draws with uPlot; x in Unix seconds. */
export type ChartSpec = {
  x: number[];
  /** Repeat the last values at the browser's "now" (a step line that holds until the next change). */
  extendToNow?: boolean;
  series: {
    label: string;
    values: (number | null)[];
    /** Which y axis: percent (0–100), milliseconds, or a 0–1 rate shown as percent. */
    scale: "pct" | "ms" | "rate";
    color: string;
    dash?: boolean;
    step?: boolean;
  }[];
};

export const pct = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? "—" : `${(v * 100).toFixed(digits)} %`;
export const ms = (v: number | null | undefined) =>
  v === null || v === undefined ? "—" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
export const rate = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
export const when = (iso: string | null | undefined) => {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace("T", " ").slice(0, 19);
};

/** A chart placeholder: the spec travels as a data attribute (escaped by JSX), the client draws it. */
export function Chart(props: { id: string; label: string; spec: ChartSpec; height?: number }) {
  return (
    <figure class="chart" id={props.id} aria-label={props.label} role="img">
      <div
        class="chart-plot"
        data-chart={JSON.stringify(props.spec)}
        data-height={String(props.height ?? 160)}
      />
      <figcaption>{props.label}</figcaption>
    </figure>
  );
}

/** Two-sided bar: monolith on the left, the new service on the right. */
export function WeightBar(props: { route: string; weights: { name: string; weight: number }[] }) {
  const text = props.weights.map((w) => `${w.name} ${w.weight} %`).join(", ");
  return (
    <div class="weightbar" role="img" aria-label={`Weights of ${props.route}: ${text}`} data-weights={text}>
      {props.weights.map((w, i) => (
        <span
          class={`seg seg-${i === 0 ? "old" : "new"}`}
          style={`width:${w.weight}%`}
          title={`${w.name} ${w.weight} %`}
        >
          {w.weight >= 12 ? `${w.name} ${w.weight}%` : ""}
        </span>
      ))}
    </div>
  );
}

export function Progress(props: { value: number; max: number; label: string }) {
  const share = props.max > 0 ? Math.min(100, Math.round((props.value / props.max) * 100)) : 0;
  return (
    <span class="progress">
      <progress value={String(props.value)} max={String(props.max)} aria-label={props.label} />
      <span class="progress-text">{share} %</span>
    </span>
  );
}

/** What to do next when there is nothing to show. */
export function Empty(props: { title: string; children?: Child }) {
  return (
    <div class="empty" role="status">
      <p class="empty-title">{props.title}</p>
      {props.children}
    </div>
  );
}

export function Badge(props: { kind: string; children: Child }) {
  return <span class={`badge badge-${props.kind}`}>{props.children}</span>;
}
