/** @jsxImportSource hono/jsx */
import type { ShadowReport, ShadowSample } from "../../policies/shadow/report.ts";
import type { Viewer } from "../sources.ts";
import { Empty, pct, when } from "../ui.tsx";

const shown = (v: unknown) => (v === undefined ? "(missing)" : JSON.stringify(v));

/** A diff side by side; values are response data, so only those who may act see them (others get the field paths). */
function Sample(props: { s: ShadowSample; admin: boolean }) {
  const { s, admin } = props;
  return (
    <details class="diff" id={`diff-${s.candidate}-${s.at}-${s.request}`}>
      <summary>
        <code>GET {s.request}</code> <span class="muted">{when(s.at)}</span> status {s.status.primary} ↔{" "}
        {s.status.candidate}
        {" · "}
        {s.fields.length} field(s){s.truncated ? " (more not kept)" : ""}
      </summary>
      <table class="sidebyside">
        <caption class="sr-only">Fields that differed for {s.request}</caption>
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">{s.primary} (primary)</th>
            <th scope="col">{s.candidate} (candidate)</th>
          </tr>
        </thead>
        <tbody>
          {s.fields.map((f) => (
            <tr>
              <td>
                <code>{f.path}</code>
              </td>
              <td class="old">
                {admin ? <code>{shown(f.primary)}</code> : <span class="muted">hidden (operators only)</span>}
              </td>
              <td class="new">
                {admin ? (
                  <code>{shown(f.candidate)}</code>
                ) : (
                  <span class="muted">hidden (operators only)</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

export function ShadowSection(props: { report: ShadowReport | null; viewer: Viewer }) {
  const routes = props.report?.routes ?? [];
  if (routes.length === 0)
    return (
      <Empty title="No shadow traffic yet">
        <p>
          Mirror a share of a route's GETs to its candidate with a <code>RequestMirror</code> filter's{" "}
          <code>percent</code> in the route file, or run a promotion with <code>--shadow 60s</code>; matches
          and diffs show here.
        </p>
      </Empty>
    );
  return (
    <div>
      <p class="muted">
        Queue: {props.report?.queue.outstanding ?? 0} outstanding of {props.report?.queue.max ?? 0}
      </p>
      {routes.map((r) => (
        <article class="card" data-route={r.route} aria-labelledby={`shadow-${r.route}`}>
          <h3 id={`shadow-${r.route}`}>
            {r.route} → {r.candidate}
          </h3>
          <dl class="facts">
            <div>
              <dt>Match rate</dt>
              <dd data-testid="match-rate">{r.compared > 0 ? pct(1 - r.mismatchRate) : "—"}</dd>
            </div>
            <div>
              <dt>Compared</dt>
              <dd>
                {r.compared} of {r.mirrored} mirrored ({r.dropped} dropped)
              </dd>
            </div>
            <div>
              <dt>Mismatches</dt>
              <dd>
                {r.mismatches} ({r.noiseOnly} noise only)
              </dd>
            </div>
            <div>
              <dt>Candidate errors</dt>
              <dd>{r.candidateErrors}</dd>
            </div>
            <div>
              <dt>Bodies not compared</dt>
              <dd>
                {r.bodiesNotCompared.tooLarge} too large · {r.bodiesNotCompared.notJson} not JSON
              </dd>
            </div>
          </dl>
          <h4>Noise fields (differ between two answers of the primary)</h4>
          {r.noise.fields.length ? (
            <ul class="noise">
              {r.noise.fields.map((f) => (
                <li>
                  <code>{f.path}</code> ×{f.count}
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">None found in {r.noise.samples} baseline sample(s).</p>
          )}
          <h4>Recent diffs</h4>
          {r.samples.length ? (
            r.samples.map((s) => <Sample s={s} admin={props.viewer.admin} />)
          ) : (
            <p class="muted">No mismatch kept.</p>
          )}
        </article>
      ))}
    </div>
  );
}
