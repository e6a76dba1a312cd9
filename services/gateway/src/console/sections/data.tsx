/** @jsxImportSource hono/jsx */
import type { DataStatus } from "../data-status.ts";
import { type Failed, failed, type RouteRow } from "../sources.ts";
import { Badge, Empty, ms, Progress, when } from "../ui.tsx";

/** Per stateful route: write owner (live state), sync lag, last verify, backfill progress. */
export function DataSection(props: { routes: RouteRow[]; status: DataStatus[] | Failed | null }) {
  const stateful = props.routes.filter((r) => r.writes === "owner" && r.candidate !== null);
  const byRoute = new Map(Array.isArray(props.status) ? props.status.map((s) => [s.route, s]) : []);
  if (stateful.length === 0)
    return (
      <Empty title="No stateful route is carved out">
        <p>
          Routes with{" "}
          <code>
            fig: {"{"} writes: owner {"}"}
          </code>{" "}
          and a new service among their <code>backendRefs</code> in the route file show here.
        </p>
      </Empty>
    );
  return (
    <div>
      {props.status === null ? (
        <Empty title="No sync status yet">
          <p>
            Copy the owner's data into the new service with{" "}
            <code>bun run migrate-data backfill {stateful[0]?.id}</code>, then check it with{" "}
            <code>bun run migrate-data verify {stateful[0]?.id}</code>; lag, verify and backfill show here.
          </p>
        </Empty>
      ) : failed(props.status) ? (
        <p class="muted">{props.status.error}</p>
      ) : null}
      <table class="data">
        <caption class="sr-only">Write owner and sync status per stateful route</caption>
        <thead>
          <tr>
            <th scope="col">Route</th>
            <th scope="col">Write owner</th>
            <th scope="col">Sync lag p50 / p99</th>
            <th scope="col">Last verify</th>
            <th scope="col">Backfill</th>
          </tr>
        </thead>
        <tbody>
          {stateful.map((r) => {
            const s = byRoute.get(r.id);
            return (
              <tr data-route={r.id}>
                <th scope="row">{r.id}</th>
                <td>
                  <Badge kind={r.writeOwner === r.candidate ? "ok" : "info"}>{r.writeOwner}</Badge>
                </td>
                <td>{s?.syncLagMs ? `${ms(s.syncLagMs.p50)} / ${ms(s.syncLagMs.p99)}` : "—"}</td>
                <td>
                  {s?.lastVerify ? (
                    <span>
                      <Badge kind={s.lastVerify.ok ? "ok" : "bad"}>
                        {s.lastVerify.ok ? "match" : "mismatch"}
                      </Badge>{" "}
                      {when(s.lastVerify.at)} <span data-verify-counts>{s.lastVerify.detail ?? ""}</span>
                      {s.lastVerify.differences.length > 0 ? (
                        <span class="muted" data-verify-differences>
                          {" "}
                          · first differing: {s.lastVerify.differences.join(", ")}
                        </span>
                      ) : null}
                    </span>
                  ) : (
                    "never"
                  )}
                </td>
                <td>
                  {s?.backfill ? (
                    <span>
                      <Progress
                        value={s.backfill.done}
                        max={s.backfill.total}
                        label={`Backfill of ${r.id}`}
                      />{" "}
                      {s.backfill.done} / {s.backfill.total} rows
                      {s.backfill.rowsPerSecond !== null
                        ? ` · ${Math.round(s.backfill.rowsPerSecond)} rows/s`
                        : ""}
                      {s.backfill.running && s.backfill.etaSeconds !== null
                        ? ` · ETA ${Math.round(s.backfill.etaSeconds)} s`
                        : ""}
                      {!s.backfill.running && s.backfill.done < s.backfill.total
                        ? " · interrupted: run it again to resume"
                        : ""}
                    </span>
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
