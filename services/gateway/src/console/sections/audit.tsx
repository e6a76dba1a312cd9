/** @jsxImportSource hono/jsx */
import type { AuditEntry } from "@fig/audit";
import { AUDIT_SHOWN } from "../audit.ts";
import { type Failed, failed } from "../sources.ts";
import { Empty, when } from "../ui.tsx";

const brief = (value: unknown) => (value === null || value === undefined ? "—" : JSON.stringify(value));

/** The newest entries of the audit log: when, who, what, on what, from → to, why. */
export function AuditSection(props: { entries: AuditEntry[] | Failed | null }) {
  const { entries } = props;
  if (entries === null)
    return (
      <Empty title="No audit log">
        <p>
          Start the audit service (<code>services/audit</code>) and set the route file's <code>audit</code>{" "}
          upstream.
        </p>
      </Empty>
    );
  if (failed(entries)) return <p class="muted">{entries.error}</p>;
  if (entries.length === 0)
    return (
      <Empty title="Nothing recorded yet">
        <p>
          Every change of weights, state, write owner, holds and shadow share shows here, with who and why.
        </p>
      </Empty>
    );
  return (
    <div>
      <p class="muted">
        The newest {AUDIT_SHOWN}. Filter by actor, route, kind and time at <code>GET /_fig/audit</code>; check
        the chain with <code>bun run audit verify</code>.
      </p>
      <table class="data">
        <caption class="sr-only">The audit log, newest first</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">On</th>
            <th scope="col">From → to</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr data-audit-seq={String(e.seq)} data-kind={e.kind}>
              <th scope="row">{e.seq}</th>
              <td>{when(e.at)}</td>
              <td>
                {e.actor.sub}
                {e.actor.tenant ? <span class="muted"> ({e.actor.tenant})</span> : null}
              </td>
              <td>
                <code>{e.kind}</code>
              </td>
              <td>{e.subject ?? "—"}</td>
              <td>
                <code>{brief(e.from)}</code> → <code>{brief(e.to)}</code>
              </td>
              <td>{e.reason ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
