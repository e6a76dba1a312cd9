/** @jsxImportSource hono/jsx */
import type { DeadLetter } from "@fig/events";
import { type ConsoleJobs, type Failed, failed, type Viewer } from "../sources.ts";
import { Empty, when } from "../ui.tsx";

function Counts(props: { jobs: ConsoleJobs }) {
  const c = props.jobs.counts;
  const items: [string, number, string][] = [
    ["queued", c.queued, "waiting for a worker"],
    ["processing", c.processing, "taken, not acknowledged"],
    ["completed", c.completed, "last 7 days"],
    ["failed", c.failed, "last 7 days"],
    ["dead-lettered", c.deadLettered, "consumers gave up"],
  ];
  return (
    <div class="summary">
      {items.map(([label, value, note]) => (
        <div class={`stat stat-${label}`}>
          <span class="stat-value" data-testid={`count-${label}`}>
            {value}
          </span>
          <span class="stat-label">
            {label} <span class="muted">({note})</span>
          </span>
        </div>
      ))}
    </div>
  );
}

/** Runs in the queue; the client fills each progress bar from the run's own SSE stream (`/api/validations/{id}/events`). */
function Runs(props: { jobs: ConsoleJobs; viewer: Viewer }) {
  if (props.jobs.runs.length === 0)
    return (
      <p class="muted">
        No run in the queue. Start one with <code>POST /api/validations</code> (see /docs).
      </p>
    );
  return (
    <ul class="runs">
      {props.jobs.runs.map((r) => (
        <li
          data-run={r.validationId}
          data-tenant={r.tenant ?? ""}
          data-state={r.state}
          id={`run-${r.validationId}`}
        >
          <code>{r.validationId}</code>{" "}
          <span class="muted">
            tenant {r.tenant ?? "—"} · queued {when(r.queuedAt)}
          </span>{" "}
          <span class="run-state">{r.state}</span>
          <span class="progress">
            <progress max="100" aria-label={`Progress of validation ${r.validationId}`} />
            <span class="progress-text">
              {r.tenant === props.viewer.tenant ? "…" : `progress visible to tenant ${r.tenant ?? "?"}`}
            </span>
          </span>
        </li>
      ))}
    </ul>
  );
}

function DeadLetters(props: { letters: DeadLetter[]; viewer: Viewer }) {
  if (props.letters.length === 0)
    return (
      <p class="muted">
        No dead letter. Messages a consumer gives up on (after its max deliveries) land here.
      </p>
    );
  return (
    <table class="dlq">
      <caption class="sr-only">Dead letters, oldest first</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Event</th>
          <th scope="col">Consumer</th>
          <th scope="col">Error</th>
          <th scope="col">Deliveries</th>
          <th scope="col">When</th>
          {props.viewer.admin ? <th scope="col">Action</th> : null}
        </tr>
      </thead>
      <tbody>
        {props.letters.map((d) => (
          <tr data-seq={String(d.seq)}>
            <td>{d.seq}</td>
            <td>
              <code>{d.eventType ?? d.subject}</code>
              <span class="muted"> {d.subject}</span>
            </td>
            <td>{d.consumer}</td>
            <td class="error">{d.error}</td>
            <td>{d.deliveries}</td>
            <td>{when(d.deadLetteredAt)}</td>
            {props.viewer.admin ? (
              <td>
                <button
                  type="button"
                  class="admin-only"
                  data-action="replay"
                  data-seq={String(d.seq)}
                  aria-label={`Replay dead letter ${d.seq}`}
                >
                  Replay…
                </button>
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Bull Board for the validation work queue: counts, runs in progress, dead letters with replay. */
export function JobsSection(props: {
  jobs: ConsoleJobs | Failed | null;
  dlq: DeadLetter[] | Failed | null;
  viewer: Viewer;
}) {
  const { jobs, dlq, viewer } = props;
  if (jobs === null)
    return (
      <Empty title="No work queue here">
        <p>
          This gateway runs without NATS; start it with NATS_URL set (<code>bun run dev</code> does).
        </p>
      </Empty>
    );
  if (failed(jobs))
    return (
      <Empty title="The work queue cannot be read">
        <p>{jobs.error}</p>
      </Empty>
    );
  return (
    <div>
      <Counts jobs={jobs} />
      <h3 class="sub">Runs in the queue</h3>
      <Runs jobs={jobs} viewer={viewer} />
      <h3 class="sub">Dead letters</h3>
      {dlq === null ? null : failed(dlq) ? (
        <p class="muted">{dlq.error}</p>
      ) : (
        <DeadLetters letters={dlq} viewer={viewer} />
      )}
    </div>
  );
}
