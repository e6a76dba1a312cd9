import { isOperator, type TokenVerifier } from "@fig/auth";
import { AppError, type Logger } from "@fig/service";
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { authorize, identify } from "../policies/auth.ts";
import { ASSET_NAMES, type AssetName, assetVersions, serveAsset } from "./assets.ts";
import { ConsolePage, SECTIONS, type SectionId } from "./page.tsx";
import { renderSections } from "./render.tsx";
import type { ConsoleSources, Viewer } from "./sources.ts";

const CONSOLE_AUTH = { read: "operator", write: "operator" } as const;

/** How to mint a token the console accepts in development (the default operator tenant). */
export const OPERATOR_TOKEN_HINT = "bun run token --sub you --tenant platform --roles operator";

export type ConsoleDeps = {
  sources: ConsoleSources;
  verifier: TokenVerifier;
  /** The tenant whose `operator` tokens may read the console (FIG_OPERATOR_TENANT). */
  operatorTenant: string;
  logger?: Logger;
  /** The admin API's operations, to offer only the actions that exist (e.g. promotion rollback). */
  adminOperations: () => { method: string; path: string }[];
  /** How often an open console's stream re-renders everything; what it sends is only what changed. */
  tickMs?: number;
  /** How often it checks the cheap stamp (route revisions, breaker states) to re-render at once. */
  stampMs?: number;
  /** How often the stream re-verifies the token (an expired token ends the stream). */
  reverifyMs?: number;
  devTokenHint?: string;
};

/**
 * The console's reader: an operator, as for the admin API it calls. Its sections show every tenant's routes,
 * shadow diff values and dead-letter payloads, so a tenant's admin or viewer is refused (403).
 */
async function viewerOf(verifier: TokenVerifier, operatorTenant: string, c: Context): Promise<Viewer> {
  const header = c.req.header("authorization");
  const claims = authorize(CONSOLE_AUTH, "GET", await identify(verifier, header));
  if (!claims || !header) throw new AppError("unauthorized", "Missing bearer token");
  if (!isOperator(claims, operatorTenant)) {
    throw new AppError(
      "forbidden",
      `Requires an operator of tenant ${operatorTenant}; the token is of ${claims.tenant}`,
      {
        headers: { "www-authenticate": 'Bearer error="insufficient_scope"' },
      },
    );
  }
  return {
    sub: claims.sub,
    tenant: claims.tenant,
    roles: claims.roles,
    // Every operator may act; the field stays for a read-only operator role, should one be added.
    admin: true,
    authorization: header,
  };
}

/**
 * `/_fig/console`: the page (a server-rendered shell), its assets (uPlot and the client script, served from
 * node_modules: no CDN), and the sections as server-rendered HTML over SSE for an operator's token.
 * Actions are not here: the page calls the admin API (`/_fig/routes/...`), like the CLI.
 *
 * @example
 * app.route("/_fig/console", consoleRouter({ sources, verifier, adminOperations: () => app.routes }));
 */
export function consoleRouter(deps: ConsoleDeps) {
  const { sources, verifier, operatorTenant, tickMs = 1000, stampMs = 25, reverifyMs = 10_000 } = deps;
  const hint = deps.devTokenHint ?? OPERATOR_TOKEN_HINT;
  const router = new Hono();
  const actions = () => {
    const ops = deps.adminOperations();
    return ops.some((o) => o.method === "POST" && /^\/_fig\/promotions\/:[^/]+\/rollback$/.test(o.path));
  };

  router.get("/", async (c) => {
    c.header("Cache-Control", "no-store");
    c.header(
      "Content-Security-Policy",
      // uPlot and the weight bars set inline styles; no inline script anywhere.
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    c.header("Referrer-Policy", "no-referrer");
    const page = ConsolePage({ versions: await assetVersions(), devTokenHint: hint });
    return c.html(`<!doctype html>${page}`);
  });

  router.get("/assets/:name", (c) => {
    const name = c.req.param("name") as AssetName;
    if (!ASSET_NAMES.includes(name)) throw new AppError("not_found", `No console asset ${name}`);
    return serveAsset(c, name);
  });

  router.get("/sections/:id", async (c) => {
    const viewer = await viewerOf(verifier, operatorTenant, c);
    const id = c.req.param("id") as SectionId;
    if (!SECTIONS.some((s) => s.id === id)) throw new AppError("not_found", `No console section ${id}`);
    const html = await renderSections(sources, viewer, { promotionActions: actions() });
    c.header("Cache-Control", "no-store");
    return c.html(html[id]);
  });

  router.get("/events", async (c) => {
    const viewer = await viewerOf(verifier, operatorTenant, c);
    c.header("Cache-Control", "no-store");
    return streamSSE(c, async (stream) => {
      let closed = false;
      stream.onAbort(() => {
        closed = true;
      });
      await stream.writeSSE({
        event: "hello",
        data: JSON.stringify({
          sub: viewer.sub,
          tenant: viewer.tenant,
          roles: viewer.roles,
          admin: viewer.admin,
        }),
      });
      const sent = new Map<string, string>();
      let lastWrite = Date.now();
      let verifiedAt = Date.now();
      while (!closed) {
        if (Date.now() - verifiedAt > reverifyMs) {
          const ok = await viewerOf(verifier, operatorTenant, c).then(
            () => true,
            () => false,
          );
          if (!ok) {
            await stream.writeSSE({ event: "expired", data: "{}" });
            return;
          }
          verifiedAt = Date.now();
        }
        const html = await renderSections(sources, viewer, { promotionActions: actions() });
        for (const id of Object.keys(html) as SectionId[]) {
          if (sent.get(id) === html[id]) continue;
          sent.set(id, html[id]);
          await stream.writeSSE({ event: "section", data: JSON.stringify({ id, html: html[id] }) });
          lastWrite = Date.now();
        }
        if (Date.now() - lastWrite > 15_000) {
          await stream.write(": keep-alive\n\n");
          lastWrite = Date.now();
        }
        // Wait for the next full render, or less when a route or breaker changed (a weight change shows at once).
        const stamp = sources.stamp();
        const until = Date.now() + tickMs;
        while (!closed && Date.now() < until && sources.stamp() === stamp) await stream.sleep(stampMs);
      }
    });
  });

  return router;
}
