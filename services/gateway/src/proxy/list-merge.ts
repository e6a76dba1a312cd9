import { AppError, decodeCursor, encodeCursor } from "@fig/service";
import type { ForwardPlan, ForwardResult } from "../policies/resilient-send.ts";
import { isAbortError } from "../policies/timeout.ts";
import type { UpstreamName } from "../policies/types.ts";
import type { ListMerge, RouteDefinition, RouteTable } from "../routes.ts";
import type { RouteStateStore } from "../state/types.ts";

/** Set on a merged page that some upstream did not answer: `monolith unavailable` (comma-separated). */
export const PARTIAL_HEADER = "fig-partial";

type Item = Record<string, unknown>;
/** The last item served: its sort value and id. Every side's next item comes after it in the merged order. */
type Position = [sort: string | number, id: string];
/** Each upstream's own cursor of the page holding its next item; null: its first page; false: exhausted. */
type Places = Record<UpstreamName, string | null | false>;
type MergedCursor = { at: Position; from: Places };

type Side = {
  name: UpstreamName;
  /** The upstream cursor `items` were read with: where the next request resumes while items are left. */
  pageCursor: string | null;
  items: Item[];
  next: string | null;
  down?: { error: unknown; reason: string };
};

/** An upstream's 4xx (a bad query, a refused token): the client's answer, as the upstream gave it. */
class UpstreamRefusal {
  constructor(readonly result: ForwardResult) {}
}

const isPlaces = (v: unknown): v is Places =>
  typeof v === "object" &&
  v !== null &&
  Object.values(v).every((p) => p === null || p === false || typeof p === "string");
const isMergedCursor = (v: unknown): v is MergedCursor => {
  const c = v as MergedCursor;
  return (
    Array.isArray(c?.at) &&
    c.at.length === 2 &&
    (typeof c.at[0] === "string" || typeof c.at[0] === "number") &&
    typeof c.at[1] === "string" &&
    isPlaces(c.from)
  );
};

function valueAt(item: Item, path: string): unknown {
  let value: unknown = item;
  for (const key of path.split(".")) value = (value as Item | null | undefined)?.[key];
  return value;
}

/** Negative when `a` comes before `b` newest first: the sort value descending (times as instants), then the id. */
export function compareDesc(a: Position, b: Position): number {
  const [x, y] = [a[0], b[0]];
  if (x !== y) {
    const [tx, ty] = typeof x === "number" ? [x, y as number] : [Date.parse(x), Date.parse(y as string)];
    if (!Number.isNaN(tx) && !Number.isNaN(ty) && tx !== ty) return ty - tx;
    if (Number.isNaN(tx) || Number.isNaN(ty)) return x < y ? 1 : -1;
  }
  return a[1] === b[1] ? 0 : a[1] < b[1] ? 1 : -1;
}

/**
 * Wraps the proxy's `forward` so a GET of a route's declared list (routes.ts `listMerge`) is asked of every
 * upstream of the route and their pages merged newest first; any other request is forwarded as it was.
 * The merged cursor is base64url JSON of the last item's position and each upstream's own cursor, so a run
 * created mid-pagination (newer than the position) never shifts the pages after, and no item is served twice.
 * An upstream that fails (connection error, 5xx, timeout, open breaker) is left out of the page, which then
 * carries `Fig-Partial: <upstream> unavailable`; if none answers, the first one's error is the answer.
 * A pinned request (`x-fig-route`) wants one upstream's answer and is never merged.
 *
 * @example
 * const forward = withListMerges(createResilientSend({ send, breakers }), { table, store });
 */
export function withListMerges(
  forward: (plan: ForwardPlan) => Promise<ForwardResult>,
  { table, store }: { table: RouteTable; store: RouteStateStore },
): (plan: ForwardPlan) => Promise<ForwardResult> {
  const lists = new Map<string, { route: RouteDefinition; spec: ListMerge }>();
  for (const route of table.routes)
    for (const spec of route.listMerge ?? []) lists.set(spec.path, { route, spec });
  if (lists.size === 0) return forward;

  return function forwardOrMerge(plan) {
    if (plan.pinned || plan.request.method !== "GET") return forward(plan);
    const url = new URL(plan.request.url);
    const list = lists.get(url.pathname);
    if (!list) return forward(plan);
    return mergeList(list.route, list.spec, url, plan);
  };

  async function mergeList(
    route: RouteDefinition,
    spec: ListMerge,
    url: URL,
    plan: ForwardPlan,
  ): Promise<ForwardResult> {
    const cursorText = url.searchParams.get("cursor");
    const cursor = cursorText ? decodeCursor(cursorText, isMergedCursor) : undefined;
    const limitText = url.searchParams.get("limit");
    // Anything but digits goes to the upstreams as sent: their 400 is the answer.
    const limit = limitText && /^\d+$/.test(limitText) ? Number(limitText) : spec.defaultLimit;
    const headers = new Headers(plan.request.headers);
    // The gateway reads these bodies: plain bytes, and a fresh answer (the merged page is not any one upstream's).
    headers.set("accept-encoding", "identity");
    for (const name of ["if-none-match", "if-modified-since", "range"]) headers.delete(name);
    const attempts: ForwardResult["attempts"] = [];

    const read = async (side: Side, from: string | null) => {
      const query = new URL(url);
      if (from === null) query.searchParams.delete("cursor");
      else query.searchParams.set("cursor", from);
      let result: ForwardResult;
      try {
        result = await forward({
          ...plan,
          request: { method: "GET", url: query.href, headers, body: null },
          upstream: side.name,
          pinned: true, // each side's own answer: never retried or read-fallen onto the other side
          readFallback: false,
        });
      } catch (error) {
        if (isAbortError(error)) throw error;
        side.down = { error, reason: error instanceof Error ? error.message : String(error) };
        return;
      }
      attempts.push(...result.attempts);
      const status = result.response.status;
      if (status >= 500) {
        await result.response.body?.cancel();
        side.down = { error: undefined, reason: `answered ${status}` };
        return;
      }
      if (status !== 200) throw new UpstreamRefusal(result);
      const page = (await result.response.json().catch(() => ({}))) as Item;
      const items = page[spec.itemsField];
      const next = page.nextCursor;
      if (!Array.isArray(items) || !(next === null || typeof next === "string")) {
        side.down = { error: undefined, reason: `answered no ${spec.itemsField} page` };
        return;
      }
      side.pageCursor = from;
      side.next = next;
      // What is at or before the last position served was served already (or is newer than the list's first page).
      side.items = cursor
        ? (items as Item[]).filter((item) => compareDesc(positionOf(item), cursor.at) > 0)
        : (items as Item[]);
    };
    const positionOf = (item: Item): Position => [
      valueAt(item, spec.sortKey) as string | number,
      String(valueAt(item, spec.idKey)),
    ];
    // Reads pages until the side has an item or nothing more to give.
    const fill = async (side: Side) => {
      while (!side.down && side.items.length === 0 && side.next !== null) await read(side, side.next);
    };

    const sides: Side[] = plan.upstreams
      .filter((name) => cursor?.from[name] !== false)
      .map((name) => ({ name, pageCursor: null, items: [], next: null }));
    try {
      await Promise.all(
        sides.map(async (side) => {
          await read(side, (cursor?.from[side.name] as string | null | undefined) ?? null);
          await fill(side);
        }),
      );
      const answered = sides.filter((s) => !s.down);
      if (answered.length === 0 && sides.length > 0) throw downError(sides[0] as Side);

      const archive = archiveOf(route, spec);
      const out: Item[] = [];
      while (out.length < limit) {
        let best: Side | undefined;
        let bestAt: Position | undefined;
        for (const side of answered) {
          const head = side.items[0];
          if (!head) continue;
          const at = positionOf(head);
          if (!bestAt || compareDesc(at, bestAt) < 0) [best, bestAt] = [side, at];
        }
        if (!best) break;
        const item = best.items.shift() as Item;
        if (archive && best.name === archive.upstream) item[archive.field] = true;
        out.push(item);
        await fill(best);
      }

      const last = out.at(-1);
      const from: Places = { ...cursor?.from };
      for (const side of sides) {
        if (side.down) continue; // keeps its place for the pages after
        from[side.name] = side.items.length > 0 ? side.pageCursor : (side.next ?? false);
      }
      const more = answered.some((s) => from[s.name] !== false);
      const nextCursor =
        more && (last || cursor)
          ? encodeCursor({ at: last ? positionOf(last) : (cursor as MergedCursor).at, from })
          : null;

      const responseHeaders = new Headers({ "content-type": "application/json" });
      const down = sides.filter((s) => s.down);
      if (down.length > 0)
        responseHeaders.set(PARTIAL_HEADER, down.map((s) => `${s.name} unavailable`).join(", "));
      return {
        response: new Response(JSON.stringify({ [spec.itemsField]: out, nextCursor }), {
          status: 200,
          headers: responseHeaders,
        }),
        upstream: answered.map((s) => s.name).join(", "),
        attempts,
      };
    } catch (error) {
      if (error instanceof UpstreamRefusal) return error.result;
      throw error;
    }
  }

  /** The legacy side and the field to mark, while the route sends it none of its traffic. */
  function archiveOf(route: RouteDefinition, spec: ListMerge) {
    const legacy = route.upstreams[0]?.name;
    if (!spec.archivedField || !legacy) return undefined;
    const live = store.get(route.id);
    if (live?.state !== "active" || (live.weights[legacy] ?? 0) > 0) return undefined;
    return { upstream: legacy, field: spec.archivedField };
  }
}

function downError(side: Side): unknown {
  return (
    side.down?.error ??
    new AppError("bad_gateway", `Upstream ${side.name} failed: ${side.down?.reason}`, {
      extensions: { upstream: side.name },
      headers: { "fig-served-by": side.name },
    })
  );
}
