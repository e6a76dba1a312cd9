/** @jsxImportSource hono/jsx */
import type { DeadLetter } from "@fig/events";
import { type ConsoleJobs, type ConsoleQueue, type Failed, failed, type Viewer } from "../sources.ts";
import { Empty, when } from "../ui.tsx";

function Counts(props: { queue: ConsoleQueue }) {
  const c = props.queue.counts;
  const items: [string, number | null, string][] = [
    ["queued", c.queued, "waiting for a worker"],
    ["processing", c.processing, "taken, not acknowledged"],
    ["completed", c.completed, c.completed === null ? "no completed event declared" : "last 7 days"],
    ["failed", c.failed, c.failed === null ? "no failed event declared" : "last 7 days"],
    ["dead-lettered", c.deadLettered, "its consumer gave up"],
  ];
  return (
    <div class="summary">
      {items.map(([label, value, note]) => (
        <div class={`stat stat-${label}`}>
          <span class="stat-value" data-testid={`count-${label}`}>
            {value ?? "—"}
          </span>
          <span class="stat-label">
            {label} <span class="muted">({note})</span>
          </span>
        </div>
      ))}
    </div>
  );
}

/** The item's progress endpoint on the gateway; none for an id that would be a `.`/`..` path segment. */
function progressUrl(template: string | null, id: string | null): string {
  if (!template || id === null || id === "." || id === "..") return "";
  return template.replaceAll("{id}", encodeURIComponent(id));
}

/** Runs in the queue; the client fills each progress bar from the item's own SSE stream (the queue's `progress`). */
function Runs(props: { queue: ConsoleQueue; viewer: Viewer }) {
  const { queue, viewer } = props;
  if (queue.runs.length === 0) return <p class="muted">No job in the queue.</p>;
  return (
    <ul class="runs">
      {queue.runs.map((r) => (
        <li
          data-queue={queue.name}
          data-run={r.id ?? ""}
          data-tenant={r.tenant ?? ""}
          data-state={r.state}
          data-progress={progressUrl(queue.progress, r.id)}
        >
          <code>{r.id ?? `(no ${queue.itemId})`}</code>{" "}
          <span class="muted">
            #{r.seq} · tenant {r.tenant ?? "—"} · queued {when(r.queuedAt)}
          </span>{" "}
          <span class="run-state">{r.state}</span>
          {queue.progress ? (
            <span class="progress">
              <progress max="100" aria-label={`Progress of ${queue.label} ${r.id ?? r.seq}`} />
              <span class="progress-text">
                {r.tenant === viewer.tenant ? "…" : `progress visible to tenant ${r.tenant ?? "?"}`}
              </span>
            </span>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

/** One declared queue: where it lives, its counts, the jobs in it. */
function QueuePanel(props: { queue: ConsoleQueue; viewer: Viewer }) {
  const { queue, viewer } = props;
  const missing = [
    queue.streamFound ? null : `stream ${queue.stream} does not exist yet`,
    queue.streamFound && !queue.consumerFound ? `no worker has created consumer ${queue.consumer} yet` : null,
  ].filter((m) => m !== null);
  return (
    <article
      class="card queue"
      id={`queue-${queue.name}`}
      data-queue={queue.name}
      aria-labelledby={`queue-title-${queue.name}`}
    >
      <h3 id={`queue-title-${queue.name}`}>{queue.label}</h3>
      {queue.description ? <p>{queue.description}</p> : null}
      <p class="muted">
        stream <code>{queue.stream}</code> · consumer <code>{queue.consumer}</code>
        {missing.length ? ` · ${missing.join("; ")}` : ""}
      </p>
      <Counts queue={queue} />
      <h4>Jobs in the queue</h4>
      <Runs queue={queue} viewer={viewer} />
    </article>
  );
}

const EXAMPLE = `queues:
  - name: transcription
    label: Transcriptions
    stream: JOBS               # <NAMESPACE>_JOBS
    consumer: transcription-worker
    subject: jobs.transcription.requested
    events: { requested: transcription.requested, completed: transcription.completed }
    itemId: noteId
    progress: /api/notes/{id}/events   # optional`;

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

/** Bull Board for the route file's work queues: one panel each, then the namespace's dead letters with replay. */
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
      <Empty title="The work queues cannot be read">
        <p>{jobs.error}</p>
      </Empty>
    );
  return (
    <div>
      {jobs.queues.length === 0 ? (
        <Empty title="No work queue declared">
          <p>
            Declare each JetStream work queue to show under <code>queues:</code> in the route file (
            <code>fig.yaml</code>), then restart the gateway. For example:
          </p>
          <pre>{EXAMPLE}</pre>
          <p>docs/console.md describes each field.</p>
        </Empty>
      ) : (
        jobs.queues.map((queue) => <QueuePanel queue={queue} viewer={viewer} />)
      )}
      <h3 class="sub">Dead letters</h3>
      {dlq === null ? null : failed(dlq) ? (
        <p class="muted">{dlq.error}</p>
      ) : (
        <DeadLetters letters={dlq} viewer={viewer} />
      )}
    </div>
  );
}
