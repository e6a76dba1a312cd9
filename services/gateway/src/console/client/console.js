// The Fig console's client script: token in sessionStorage, sections over SSE (fetch streaming, so the
// token goes in the Authorization header, never in a URL), uPlot charts, confirm dialogs for actions that
// call the admin API. Plain browser JavaScript, no framework, no build step.
(() => {
  const BASE = "/_fig/console";
  const KEY = "fig.console.token";
  const $ = (id) => document.getElementById(id);
  const body = document.body;

  let token = sessionStorage.getItem(KEY);
  let viewer = null;
  let stream = null; // AbortController of the open SSE request
  let retryMs = 500;
  const charts = new Map(); // element id → uPlot
  const runs = new Map(); // "<queue> <id>" → { percent, status, controller }

  // ---------- auth ----------
  function signedOut(message) {
    stream?.abort();
    stream = null;
    token = null;
    viewer = null;
    sessionStorage.removeItem(KEY);
    for (const r of runs.values()) r.controller?.abort();
    runs.clear();
    body.dataset.state = "signed-out";
    body.dataset.role = "none";
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token")
      .value.trim()
      .replace(/^Bearer\s+/i, "");
    if (!value) return;
    token = value;
    sessionStorage.setItem(KEY, token);
    $("token").value = "";
    connect();
  });
  $("signout").addEventListener("click", () => signedOut("Token forgotten."));

  const authHeaders = (extra) => ({ Authorization: `Bearer ${token}`, ...extra });

  // ---------- tabs ----------
  function showTab() {
    const id = (location.hash || "#map").slice(1);
    const panel = document.querySelector(`section.panel#${CSS.escape(id)}`) ? id : "map";
    for (const section of document.querySelectorAll("section.panel")) section.hidden = section.id !== panel;
    for (const tab of document.querySelectorAll("[data-tab]")) {
      if (tab.dataset.tab === panel) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
    drawCharts($(`section-${panel}`));
  }
  window.addEventListener("hashchange", showTab);

  // ---------- SSE over fetch ----------
  async function connect() {
    stream?.abort();
    const controller = new AbortController();
    stream = controller;
    setLive("connecting");
    let res;
    try {
      res = await fetch(`${BASE}/events`, {
        headers: authHeaders({ Accept: "text/event-stream" }),
        signal: controller.signal,
        cache: "no-store",
      });
    } catch {
      return reconnect(controller);
    }
    if (res.status === 401 || res.status === 403) {
      const problem = await res.json().catch(() => ({}));
      return signedOut(`The gateway refused this token: ${problem.detail || res.status}`);
    }
    if (!res.ok || !res.body) return reconnect(controller);
    body.dataset.state = "signed-in";
    retryMs = 500;
    setLive("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
        }
      }
    } catch {
      // aborted or cut: reconnect below unless signed out
    }
    reconnect(controller);
  }

  function reconnect(controller) {
    if (stream !== controller || !token) return;
    setLive("reconnecting");
    setTimeout(() => stream === controller && token && connect(), retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  }

  function setLive(state) {
    const el = $("live");
    el.textContent = state;
    el.dataset.state = state;
  }

  function dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length === 0) return;
    const payload = JSON.parse(data.join("\n"));
    if (event === "hello") hello(payload);
    else if (event === "section") swap(payload.id, payload.html);
    else if (event === "expired") signedOut("The token expired: paste a new one.");
  }

  function hello(who) {
    viewer = who;
    body.dataset.role = who.admin ? "admin" : "viewer";
    $("who").textContent = `${who.sub} · ${who.tenant} · ${who.roles.join(", ") || "no role"}`;
    showTab();
  }

  // ---------- sections ----------
  function swap(id, html) {
    const target = $(`section-${id}`);
    if (!target) return;
    // Keep what the user was doing: open <details>, focus (by id or action), scroll.
    const open = new Set([...target.querySelectorAll("details[open][id]")].map((d) => d.id));
    const active = document.activeElement;
    const focusKey = target.contains(active) ? focusKeyOf(active) : null;
    for (const el of target.querySelectorAll("[data-chart]")) destroyChart(el);
    target.innerHTML = html;
    target.removeAttribute("aria-busy");
    for (const d of target.querySelectorAll("details[id]")) if (open.has(d.id)) d.open = true;
    if (focusKey) target.querySelector(focusKey)?.focus();
    if (!target.closest("section").hidden) drawCharts(target);
    if (id === "jobs") followRuns(target);
    target.dispatchEvent(new CustomEvent("fig:updated", { bubbles: true }));
  }

  function focusKeyOf(el) {
    if (el.id) return `#${CSS.escape(el.id)}`;
    if (el.dataset.action) {
      const attrs = ["action", "route", "seq", "op"]
        .filter((k) => el.dataset[k] !== undefined)
        .map((k) => `[data-${k}="${CSS.escape(el.dataset[k])}"]`);
      return attrs.join("");
    }
    if (el.tagName === "SUMMARY" && el.parentElement?.id)
      return `#${CSS.escape(el.parentElement.id)} > summary`;
    return null;
  }

  // ---------- charts (uPlot) ----------
  const SCALES = {
    pct: { range: [0, 100], label: "%", fmt: (v) => `${v}%` },
    ms: { label: "ms", fmt: (v) => `${v} ms` },
    rate: { range: [0, null], label: "rate", fmt: (v) => `${(v * 100).toFixed(1)}%` },
  };

  function destroyChart(el) {
    const chart = charts.get(el);
    if (chart) chart.destroy();
    charts.delete(el);
  }

  function drawCharts(root) {
    if (!root || typeof uPlot === "undefined") return;
    for (const el of root.querySelectorAll("[data-chart]")) {
      if (charts.has(el) || el.offsetParent === null) continue;
      const spec = JSON.parse(el.dataset.chart);
      const x = spec.x.slice();
      const columns = spec.series.map((s) => s.values.slice());
      if (spec.extendToNow && x.length > 0) {
        x.push(Math.floor(Date.now() / 1000));
        for (const col of columns) col.push(col[col.length - 1]);
      }
      if (x.length < 2) continue;
      const used = [...new Set(spec.series.map((s) => s.scale))];
      // A sparkline (a table cell's chart) keeps only the line: no axes, no legend.
      const spark = Number(el.dataset.height || 160) < 100;
      const axes = spark ? [{ show: false }] : [{}];
      used.forEach((scale, i) => {
        axes.push({
          scale,
          side: i === 0 ? 3 : 1,
          size: 50,
          grid: { show: i === 0 },
          values: (_u, ticks) => ticks.map(SCALES[scale].fmt),
        });
      });
      const scales = { x: { time: true } };
      for (const scale of used) {
        const range = SCALES[scale].range;
        scales[scale] = range
          ? { range: (_u, _min, max) => [range[0], range[1] === null ? Math.max(max, 0.05) : range[1]] }
          : {};
      }
      const opts = {
        width: Math.max(200, el.clientWidth),
        height: Number(el.dataset.height || 160),
        scales,
        axes,
        legend: { show: !spark && spec.series.length > 1 },
        series: [
          {},
          ...spec.series.map((s) => ({
            label: s.label,
            scale: s.scale,
            stroke: s.color,
            width: 2,
            dash: s.dash ? [6, 4] : undefined,
            spanGaps: true,
            paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
          })),
        ],
      };
      charts.set(el, new uPlot(opts, [x, ...columns], el));
    }
  }

  window.addEventListener("resize", () => {
    for (const [el, chart] of charts)
      chart.setSize({ width: Math.max(200, el.clientWidth), height: chart.height });
  });

  // ---------- jobs in progress: each item's own SSE stream (the queue's declared progress endpoint) ----------
  const runKey = (li) => `${li.dataset.queue} ${li.dataset.run}`;
  // The viewer's token goes with the request: only ever to a path on this gateway.
  const sameOrigin = (path) => path.startsWith("/") && !path.startsWith("//");

  function followRuns(root) {
    for (const li of root.querySelectorAll("[data-run][data-progress]")) {
      const url = li.dataset.progress;
      if (!url || !sameOrigin(url)) continue;
      const key = runKey(li);
      const known = runs.get(key);
      if (known) paintRun(li, known);
      if (known || !viewer || li.dataset.tenant !== viewer.tenant) continue;
      const state = { percent: 0, status: li.dataset.state, controller: new AbortController() };
      runs.set(key, state);
      void followRun(li.dataset.queue, li.dataset.run, url, state);
    }
  }

  function paintRun(li, state) {
    const bar = li.querySelector("progress");
    const text = li.querySelector(".progress-text");
    if (bar) bar.value = state.percent;
    if (text) text.textContent = `${state.percent} % · ${state.status}`;
    li.dataset.percent = String(state.percent);
  }

  async function followRun(queue, id, url, state) {
    try {
      const res = await fetch(url, {
        headers: authHeaders({ Accept: "text/event-stream" }),
        signal: state.controller.signal,
      });
      if (!res.ok || !res.body) {
        state.status = `progress unavailable (${res.status})`;
        return repaint(queue, id, state);
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).replace(/^ /, ""))
            .join("\n");
          if (!data) continue;
          // { status, progress: { percent } } (or a top-level percent); status "completed" is 100 %.
          const item = JSON.parse(data);
          const percent = item.progress?.percent ?? item.percent;
          state.percent =
            item.status === "completed" ? 100 : typeof percent === "number" ? percent : state.percent;
          state.status = item.status ?? state.status;
          repaint(queue, id, state);
        }
      }
    } catch {
      // the stream ended (signed out, or the gateway went away)
    }
  }

  function repaint(queue, id, state) {
    const li = document.querySelector(`[data-queue="${CSS.escape(queue)}"][data-run="${CSS.escape(id)}"]`);
    if (li) paintRun(li, state);
  }

  // ---------- actions: a confirmation dialog, then the admin API ----------
  const dialog = $("confirm");
  let pending = null;

  function toast(message, kind) {
    const el = $("toast");
    el.textContent = message;
    el.dataset.kind = kind || "info";
  }

  function openDialog(title, content, run) {
    $("confirm-title").textContent = title;
    const target = $("confirm-body");
    target.replaceChildren(content);
    $("confirm-reason").value = "";
    $("confirm-error").textContent = "";
    pending = run;
    dialog.showModal();
    (target.querySelector("input") || $("confirm-reason")).focus();
  }

  $("confirm-cancel").addEventListener("click", () => dialog.close("cancel"));
  $("confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!pending) return;
    $("confirm-ok").disabled = true;
    try {
      const problem = await pending($("confirm-reason").value.trim() || undefined);
      if (problem) $("confirm-error").textContent = problem;
      else dialog.close("ok");
    } finally {
      $("confirm-ok").disabled = false;
    }
  });

  async function call(method, path, payload) {
    const res = await fetch(path, {
      method,
      headers: authHeaders(payload ? { "Content-Type": "application/json" } : {}),
      body: payload ? JSON.stringify(payload) : undefined,
    });
    if (res.ok) return null;
    const problem = await res.json().catch(() => ({}));
    const details = (problem.errors || []).map((e) => `${e.location}: ${e.message}`).join("; ");
    return `${res.status} ${problem.title || ""}: ${problem.detail || ""}${details ? ` (${details})` : ""}`;
  }

  function text(tag, content, attrs) {
    const el = document.createElement(tag);
    if (content) el.textContent = content;
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }

  function weightsForm(weights) {
    const form = document.createElement("div");
    form.className = "weights-form";
    for (const [name, weight] of Object.entries(weights)) {
      const id = `w-${name}`;
      const row = document.createElement("p");
      row.append(text("label", `${name} (%)`, { for: id }));
      row.append(
        text("input", "", {
          id,
          name,
          type: "number",
          min: "0",
          max: "100",
          step: "1",
          value: String(weight),
          required: "",
        }),
      );
      form.append(row);
    }
    const sum = text("p", "", { class: "muted", "aria-live": "polite" });
    const update = () => {
      const total = [...form.querySelectorAll("input")].reduce((s, i) => s + Number(i.value || 0), 0);
      sum.textContent = `Total: ${total} % (must be 100)`;
    };
    form.addEventListener("input", update);
    update();
    form.append(sum);
    return form;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !viewer?.admin) return;
    const { action, route } = button.dataset;
    if (action === "weights") {
      const form = weightsForm(JSON.parse(button.dataset.weights));
      openDialog(`Set the weights of ${route}`, form, async (reason) => {
        const weights = {};
        for (const input of form.querySelectorAll("input")) weights[input.name] = Number(input.value);
        const problem = await call("PUT", `/_fig/routes/${encodeURIComponent(route)}/weights`, {
          weights,
          reason,
        });
        if (!problem)
          toast(
            `Weights of ${route} set: ${Object.entries(weights)
              .map(([k, v]) => `${k} ${v} %`)
              .join(", ")}`,
          );
        return problem;
      });
    } else if (action === "state") {
      const state = button.dataset.state;
      const note = text(
        "p",
        state === "inactive"
          ? `Set ${route} inactive: all of its traffic goes to the monolith until it is set active again.`
          : `Set ${route} active: its weights apply again.`,
      );
      openDialog(`Set ${route} ${state}?`, note, async (reason) => {
        const problem = await call("PUT", `/_fig/routes/${encodeURIComponent(route)}/state`, {
          state,
          reason,
        });
        if (!problem) toast(`${route} is now ${state}`);
        return problem;
      });
    } else if (action === "replay") {
      const seq = button.dataset.seq;
      const note = text(
        "p",
        `Publish dead letter #${seq} again to its original subject (same event id), and remove it from the dead-letter stream.`,
      );
      openDialog(`Replay dead letter #${seq}?`, note, async () => {
        const problem = await call("POST", `/_fig/dlq/${encodeURIComponent(seq)}/replay`);
        if (!problem) toast(`Dead letter #${seq} replayed`);
        return problem;
      });
    } else if (action === "promotion") {
      const op = button.dataset.op;
      const note = text(
        "p",
        op === "rollback"
          ? `Roll back the promotion of ${route}: weights go back to 100 % on the stable upstream at once.`
          : op === "pause"
            ? `Pause the promotion of ${route}: it holds its weights; the window under way is measured again on resume.`
            : `Resume the promotion of ${route}: its promote process goes on with the remaining steps.`,
      );
      openDialog(`${op} the promotion of ${route}?`, note, async (reason) => {
        const problem = await call("POST", `/_fig/promotions/${encodeURIComponent(route)}/${op}`, { reason });
        if (!problem) toast(`Promotion of ${route}: ${op} requested`);
        return problem;
      });
    }
  });

  // ---------- start ----------
  if (token) connect();
  else signedOut("");
})();
