import { AppError, decodeCursor, encodeCursor } from "@fig/service";
import type { ForwardPlan, ForwardResult } from "../policies/resilient-send.ts";
import { isAbortError } from "../policies/timeout.ts";
import type { UpstreamName } from "../policies/types.ts";
import type { ListMerge, RouteDefinition, RouteTable } from "../routes.ts";
import type { RouteStateStore } from "../state/types.ts";

/** Set on a merged page that some upstream did not answer: `monolith unavailable` (comma-separated). */
export const PARTIAL_HEADER = "fig-partial";

type Forward = (plan: ForwardPlan) => Promise<ForwardResult>;
type Item = Record<string, unknown>;
/** An item's place in the merged order: its sort value and id. */
type Position = [sort: string | number, id: string];
/** Each upstream's own cursor of the page holding its next item; null: its first page; false: exhausted. */
type Places = Record<UpstreamName, string | null | false>;
/** `at`: the last item served; every item still to come is after it in the merged order. */
type MergedCursor = { at: Position; from: Places };
type Archive = { upstream: UpstreamName; field: string };

type Side = {
  name: UpstreamName;
  /** The upstream cursor `items` were read with: where the next page resumes while items are left. */
  pageCursor: string | null;
  items: Item[];
  next: string | null;
  down?: { error: unknown; reason: string };
};

/** One merged page being built: the request as the client sent it, and what each side has given so far. */
type Merge = {
  forward: Forward;
  plan: ForwardPlan;
  url: URL;
  headers: Headers;
  spec: ListMerge;
  cursor: MergedCursor | undefined;
  attempts: ForwardResult["attempts"];
};

/** An upstream's 4xx but 404 (a bad query, a refused token): the client's answer, as the upstream gave it. */
class UpstreamRefusal {
  constructor(readonly result: ForwardResult) {}
}

/**
 * Wraps the proxy's `forward` so a GET of a route's declared list (routes.ts `listMerge`) is asked of every
 * upstream of the route and their pages merged newest first; any other request is forwarded as it was.
 * The merged cursor is base64url JSON of the last item's position and each upstream's own cursor, so a run
 * created mid-pagination (newer than the position) never shifts the pages after, and no item is served twice.
 * An upstream that fails (connection error, 5xx, timeout, open breaker) is left out of the page, which then
 * carries `Fig-Partial: <upstream> unavailable`; if none answers, the first one's error is the answer.
 * A pinned request (`x-fig-route`) wants one upstream's answer and is never merged or marked.
 *
 * @example
 * const forward = withListMerges(createResilientSend({ send, breakers }), { table, store });
 */
export function withListMerges(
  forward: Forward,
  { table, store }: { table: RouteTable; store: RouteStateStore },
): Forward {
  const lists: ListEntry[] = table.routes.flatMap((route) =>
    (route.listMerge ?? []).map((spec) => ({ route, spec })),
  );
  if (lists.length === 0) return forward;

  /** The legacy side and the field to mark, while the route sends it none of its traffic. */
  const archiveOf = (route: RouteDefinition, spec: ListMerge): Archive | undefined => {
    const legacy = route.upstreams[0]?.name;
    if (!spec.archivedField || !legacy) return undefined;
    const live = store.get(route.id);
    if (live?.state !== "active" || (live.weights[legacy] ?? 0) > 0) return undefined;
    return { upstream: legacy, field: spec.archivedField };
  };

  return function forwardOrMerge(plan) {
    if (plan.pinned || plan.request.method !== "GET") return forward(plan);
    const hit = matchList(plan.request.url, lists);
    if (!hit) return forward(plan);
    const archive = archiveOf(hit.route, hit.spec);
    if (!hit.item) return mergeList(forward, plan, hit.spec, archive);
    // One item of the list (`/api/validations/{id}`): the legacy side's answer is marked as the list marks it.
    return archive ? markedItem(forward(plan), archive) : forward(plan);
  };
}

type ListEntry = { route: RouteDefinition; spec: ListMerge };

/**
 * The declared list a URL is, or one item of (`<path>/<id>`, one segment more), read in place: this runs on
 * every proxied GET, so it allocates nothing.
 */
function matchList(url: string, lists: ListEntry[]): (ListEntry & { item: boolean }) | undefined {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return undefined;
  const query = url.indexOf("?", start);
  const end = query === -1 ? url.length : query;
  for (const entry of lists) {
    const path = entry.spec.path;
    if (!url.startsWith(path, start)) continue;
    const after = start + path.length;
    if (after === end) return { ...entry, item: false };
    if (url.charCodeAt(after) !== 47 || after + 1 >= end) continue; // "/" and an id
    const slash = url.indexOf("/", after + 1);
    if (slash === -1 || slash >= end) return { ...entry, item: true };
  }
  return undefined;
}

async function mergeList(
  forward: Forward,
  plan: ForwardPlan,
  spec: ListMerge,
  archive: Archive | undefined,
): Promise<ForwardResult> {
  const url = new URL(plan.request.url);
  const cursorText = url.searchParams.get("cursor");
  const limitText = url.searchParams.get("limit");
  // Anything but digits goes to the upstreams as sent: their 400 is the answer.
  const limit = limitText && /^\d+$/.test(limitText) ? Number(limitText) : spec.defaultLimit;
  const headers = new Headers(plan.request.headers);
  // The gateway reads these bodies: plain bytes, and a fresh answer (the merged page is not any one upstream's).
  headers.set("accept-encoding", "identity");
  for (const name of ["if-none-match", "if-modified-since", "range"]) headers.delete(name);
  const m: Merge = {
    forward,
    plan,
    url,
    headers,
    spec,
    cursor: cursorText ? decodeCursor(cursorText, isMergedCursor) : undefined,
    attempts: [],
  };

  const sides: Side[] = plan.upstreams
    .filter((name) => m.cursor?.from[name] !== false)
    .map((name) => ({ name, pageCursor: null, items: [], next: null }));
  try {
    await Promise.all(
      sides.map(async (side) => {
        await readPage(m, side, m.cursor?.from[side.name] || null);
        await fill(m, side);
      }),
    );
  } catch (error) {
    if (error instanceof UpstreamRefusal) return error.result;
    throw error;
  }
  const answered = sides.filter((s) => !s.down);
  if (answered.length === 0 && sides.length > 0) throw downError(sides[0] as Side);

  const out: Item[] = [];
  while (out.length < limit) {
    const side = newestHead(answered, spec);
    if (!side) break;
    const item = side.items.shift() as Item;
    if (archive && side.name === archive.upstream) item[archive.field] = true;
    out.push(item);
    // A full page needs no more: the side's next cursor is its place.
    if (out.length < limit) await fill(m, side);
  }

  const from = nextPlaces(sides, m.cursor);
  const last = out.at(-1);
  const at = last ? positionOf(last, spec) : m.cursor?.at;
  const more = answered.some((s) => from[s.name] !== false);
  const nextCursor = more && at ? encodeCursor({ at, from }) : null;
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
    attempts: m.attempts,
  };
}

/** Reads one page of a side from its cursor `from`, keeping the items after the merged cursor's position. */
async function readPage(m: Merge, side: Side, from: string | null): Promise<void> {
  const query = new URL(m.url);
  if (from === null) query.searchParams.delete("cursor");
  else query.searchParams.set("cursor", from);
  let result: ForwardResult;
  try {
    // Only what bounds one upstream's answer: retries, read fallback or a rescue elsewhere would put another
    // side's items under this side's name (served twice).
    const { upstreams, clientSignal, timeoutMs, maxRetries, breaker } = m.plan;
    result = await m.forward({
      request: { method: "GET", url: query.href, headers: m.headers, body: null },
      upstream: side.name,
      upstreams,
      clientSignal,
      timeoutMs,
      maxRetries,
      breaker,
      pinned: true,
      readFallback: false,
    });
  } catch (error) {
    if (isAbortError(error)) throw error;
    side.down = { error, reason: error instanceof Error ? error.message : String(error) };
    return;
  }
  m.attempts.push(...result.attempts);
  const status = result.response.status;
  // 404: this upstream has no such list (not deployed there yet), which is not the client's fault.
  if (status >= 500 || status === 404) {
    await result.response.body?.cancel();
    side.down = { error: undefined, reason: `answered ${status}` };
    return;
  }
  if (status !== 200) throw new UpstreamRefusal(result);
  const page = (await result.response.json().catch(() => ({}))) as Item;
  const items = page[m.spec.itemsField];
  const next = page.nextCursor;
  if (!Array.isArray(items) || !(next === null || typeof next === "string")) {
    side.down = { error: undefined, reason: `answered no ${m.spec.itemsField} page` };
    return;
  }
  side.pageCursor = from;
  side.next = next;
  const after = m.cursor?.at;
  // At or before the position: served already, or newer than the list's first page was (created since).
  side.items = after
    ? (items as Item[]).filter((item) => compareDesc(positionOf(item, m.spec), after) > 0)
    : (items as Item[]);
}

/** Reads pages until the side has an item or has nothing more to give. */
async function fill(m: Merge, side: Side): Promise<void> {
  while (!side.down && side.items.length === 0 && side.next !== null) await readPage(m, side, side.next);
}

/** The side whose next item comes first in the merged order. */
function newestHead(sides: Side[], spec: ListMerge): Side | undefined {
  let best: Side | undefined;
  let bestAt: Position | undefined;
  for (const side of sides) {
    const head = side.items[0];
    if (!head) continue;
    const at = positionOf(head, spec);
    if (!bestAt || compareDesc(at, bestAt) < 0) [best, bestAt] = [side, at];
  }
  return best;
}

/** Each side's place for the next page; a side that did not answer keeps the place it had. */
function nextPlaces(sides: Side[], cursor: MergedCursor | undefined): Places {
  const from: Places = { ...cursor?.from };
  for (const side of sides) {
    if (side.down) continue;
    from[side.name] = side.items.length > 0 ? side.pageCursor : (side.next ?? false);
  }
  return from;
}

/** An item read by id from the legacy side while it is the archive: marked as the merged list marks it. */
async function markItem(result: ForwardResult, archive: Archive): Promise<ForwardResult> {
  const { response } = result;
  const plainJson =
    response.headers.get("content-type")?.startsWith("application/json") &&
    !response.headers.has("content-encoding");
  if (result.upstream !== archive.upstream || response.status !== 200 || !plainJson) return result;
  const item = (await response.json()) as Item;
  item[archive.field] = true;
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  return { ...result, response: new Response(JSON.stringify(item), { status: 200, headers }) };
}

function valueAt(item: Item, path: string): unknown {
  let value: unknown = item;
  for (const key of path.split(".")) value = (value as Item | null | undefined)?.[key];
  return value;
}

function positionOf(item: Item, spec: ListMerge): Position {
  return [valueAt(item, spec.sortKey) as string | number, String(valueAt(item, spec.idKey))];
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

const isPlaces = (v: unknown): v is Places =>
  typeof v === "object" &&
  v !== null &&
  Object.values(v).every((p) => p === null || p === false || typeof p === "string");

function isMergedCursor(v: unknown): v is MergedCursor {
  const c = v as MergedCursor;
  return (
    Array.isArray(c?.at) &&
    c.at.length === 2 &&
    (typeof c.at[0] === "string" || typeof c.at[0] === "number") &&
    typeof c.at[1] === "string" &&
    isPlaces(c.from)
  );
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

/** `markItem` once the item is forwarded (outside forwardOrMerge: a closure there costs every GET its scope). */
function markedItem(forwarded: Promise<ForwardResult>, archive: Archive): Promise<ForwardResult> {
  return forwarded.then((result) => markItem(result, archive));
}
