import { afterAll, describe, expect, test } from "bun:test";
import { createBreakers } from "../../src/policies/breaker.ts";
import { fallbackOrder, shouldFallback } from "../../src/policies/read-fallback.ts";
import { createResilientSend } from "../../src/policies/resilient-send.ts";
import { closedPortUrl, sendTo, startUpstream } from "./upstream.ts";

/** Each side knows only its own runs, as during the migration. */
function runs(own: Record<string, unknown>) {
  return (request: Request) => {
    const id = new URL(request.url).pathname.split("/").at(-1) ?? "";
    const run = own[id];
    return run ? Response.json(run) : Response.json({ status: 404 }, { status: 404 });
  };
}

const monolith = startUpstream(runs({ "archived-1": { id: "archived-1", archived: true } }));
const validation = startUpstream(runs({ "new-1": { id: "new-1", archived: false } }));
afterAll(async () => {
  await monolith.stop();
  await validation.stop();
});
const upstreams = ["monolith", "validation"];
const forward = createResilientSend({ send: sendTo({ monolith: monolith.url, validation: validation.url }) });
const get = (id: string, method = "GET") => new Request(`http://gateway/api/validations/${id}`, { method });
const clear = () => {
  monolith.hits.length = 0;
  validation.hits.length = 0;
};

describe("read fallback", () => {
  test("an archived run stays readable when the user's bucket points at the new service", async () => {
    clear();
    const result = await forward({
      request: get("archived-1"),
      upstream: "validation",
      upstreams,
      readFallback: true,
    });
    expect(result.response.status).toBe(200);
    expect(result.upstream).toBe("monolith");
    expect(await result.response.json()).toEqual({ id: "archived-1", archived: true });
    expect(result.attempts.map((a) => [a.upstream, a.kind, a.status])).toEqual([
      ["validation", "first", 404],
      ["monolith", "fallback", 200],
    ]);
  });

  test("a run created on the new service is readable by a user whose bucket points at the monolith", async () => {
    clear();
    const result = await forward({
      request: get("new-1"),
      upstream: "monolith",
      upstreams,
      readFallback: true,
    });
    expect(result.response.status).toBe(200);
    expect(result.upstream).toBe("validation");
    expect(await result.response.json()).toEqual({ id: "new-1", archived: false });
  });

  test("found nowhere: the first upstream's 404 is the answer", async () => {
    clear();
    const result = await forward({
      request: get("nope"),
      upstream: "monolith",
      upstreams,
      readFallback: true,
    });
    expect(result.response.status).toBe(404);
    expect(result.upstream).toBe("monolith");
    expect(validation.hits).toHaveLength(1);
  });

  test("routes that do not declare it, writes, and pinned requests never fall back", async () => {
    clear();
    const undeclared = await forward({ request: get("new-1"), upstream: "monolith", upstreams });
    expect(undeclared.response.status).toBe(404);
    const deleted = await forward({
      request: get("new-1", "DELETE"),
      upstream: "monolith",
      upstreams,
      readFallback: true,
    });
    expect(deleted.response.status).toBe(404);
    const pinned = await forward({
      request: get("new-1"),
      upstream: "monolith",
      upstreams,
      readFallback: true,
      pinned: true,
    });
    expect(pinned.response.status).toBe(404);
    expect(validation.hits).toHaveLength(0);
  });

  test("a fallback upstream that cannot be reached leaves the 404 standing", async () => {
    const unreachable = createResilientSend({
      send: sendTo({ monolith: monolith.url, validation: await closedPortUrl() }),
    });
    const result = await unreachable({
      request: get("new-1"),
      upstream: "monolith",
      upstreams,
      readFallback: true,
    });
    expect(result.response.status).toBe(404);
    expect(result.upstream).toBe("monolith");
  });

  test("an upstream whose breaker is open is skipped", async () => {
    clear();
    const breakers = createBreakers({ minimumRequests: 20, windowMs: 3_600_000, halfOpenAfterMs: 3_600_000 });
    for (let i = 0; i < 20; i++)
      await breakers.run("validation", async () => new Response(null, { status: 503 }));
    const guarded = createResilientSend({
      send: sendTo({ monolith: monolith.url, validation: validation.url }),
      breakers,
    });
    const result = await guarded({
      request: get("new-1"),
      upstream: "monolith",
      upstreams,
      readFallback: true,
    });
    expect(result.response.status).toBe(404);
    expect(validation.hits).toHaveLength(0);
  });

  test("shouldFallback and fallbackOrder", () => {
    expect(shouldFallback("GET", new Response(null, { status: 404 }))).toBe(true);
    expect(shouldFallback("HEAD", new Response(null, { status: 404 }))).toBe(true);
    expect(shouldFallback("GET", new Response(null, { status: 410 }))).toBe(false);
    expect(shouldFallback("POST", new Response(null, { status: 404 }))).toBe(false);
    expect(fallbackOrder(["monolith", "a", "b"], ["a"], (u) => u === "b")).toEqual(["monolith"]);
  });
});
