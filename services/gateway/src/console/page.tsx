/** @jsxImportSource hono/jsx */
import type { AssetName } from "./assets.ts";

export const CONSOLE_PATH = "/_fig/console";

export const SECTIONS = [
  { id: "map", title: "Migration map" },
  { id: "promotions", title: "Promotions" },
  { id: "data", title: "Data" },
  { id: "shadow", title: "Shadow" },
  { id: "jobs", title: "Jobs" },
  { id: "audit", title: "Audit" },
] as const;
export type SectionId = (typeof SECTIONS)[number]["id"];

const href = (name: AssetName, versions: Record<AssetName, string>) =>
  `${CONSOLE_PATH}/assets/${name}?v=${versions[name]}`;

/**
 * The console's shell, server-rendered. It holds no data: the data needs the bearer token, which lives in
 * sessionStorage, so the client script asks for the sections (rendered here too, see sections/) over SSE.
 */
export function ConsolePage(props: { versions: Record<AssetName, string>; devTokenHint: string }) {
  const { versions } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Fig console</title>
        <link rel="stylesheet" href={href("uplot.css", versions)} />
        <link rel="stylesheet" href={href("console.css", versions)} />
        <script src={href("uplot.js", versions)} defer />
        <script src={href("console.js", versions)} defer />
      </head>
      <body data-role="none" data-state="signed-out">
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <h1>
            <span class="logo" aria-hidden="true">
              ◐
            </span>{" "}
            Fig console
          </h1>
          <nav aria-label="Sections" class="tabs signed-in-only">
            {SECTIONS.map((s) => (
              <a href={`#${s.id}`} id={`tab-${s.id}`} data-tab={s.id}>
                {s.title}
              </a>
            ))}
          </nav>
          <div class="who signed-in-only">
            <span id="who" aria-live="polite" />
            <span id="live" class="live-dot" title="Live updates">
              offline
            </span>
            <button type="button" id="signout">
              Forget token
            </button>
          </div>
        </header>
        <main id="main" tabindex={-1}>
          <section id="login" class="signed-out-only" aria-labelledby="login-title">
            <h2 id="login-title">Open the console</h2>
            <form id="token-form">
              <label for="token">Bearer token of an operator (role operator in the operator tenant)</label>
              <textarea id="token" name="token" rows={4} autocomplete="off" spellcheck={false} required />
              <p class="hint">
                Pasted once, kept in this tab's sessionStorage only, never put in a URL. A tenant's admin or
                viewer is refused: the console shows every tenant's traffic and data. <code>bun run dev</code>{" "}
                prints a dev operator token; or mint one: <code>{props.devTokenHint}</code>.
              </p>
              <p id="login-error" class="error" role="alert" />
              <button type="submit">Open the console</button>
            </form>
            <noscript>
              <p class="error">
                The console needs JavaScript for the token and live updates. The admin API itself is
                documented at <a href="/docs">/docs</a>.
              </p>
            </noscript>
          </section>
          {SECTIONS.map((s) => (
            <section id={s.id} class="panel signed-in-only" aria-labelledby={`${s.id}-title`} hidden>
              <h2 id={`${s.id}-title`}>{s.title}</h2>
              <div id={`section-${s.id}`} class="section-body" aria-busy="true">
                <p class="muted">Loading…</p>
              </div>
            </section>
          ))}
        </main>
        <div id="toast" class="toast" role="status" aria-live="polite" />
        <dialog id="confirm" aria-labelledby="confirm-title">
          <form id="confirm-form" method="dialog">
            <h2 id="confirm-title">Confirm</h2>
            <div id="confirm-body" />
            <label for="confirm-reason">Reason (recorded in the history with your name)</label>
            <input id="confirm-reason" name="reason" maxlength={500} autocomplete="off" />
            <p id="confirm-error" class="error" role="alert" />
            <div class="buttons">
              <button type="button" id="confirm-cancel">
                Cancel
              </button>
              <button type="submit" id="confirm-ok" class="primary">
                Confirm
              </button>
            </div>
          </form>
        </dialog>
      </body>
    </html>
  );
}
