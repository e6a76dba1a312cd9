/**
 * Why a service's /ready said no, from its problem+json body:
 * `{ "detail": "Dependency not ready: nats", "checks": { "database": "ok", "nats": "failed: …" } }`
 * becomes `nats: failed: …`. Falls back to `detail`, then to the raw text or status.
 */
export function notReadyDetail(status: number, body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = body.trim().replace(/\s+/g, " ");
    return text ? text.slice(0, 200) : `HTTP ${status}`;
  }
  const { detail, checks } = (parsed ?? {}) as { detail?: unknown; checks?: unknown };
  if (checks && typeof checks === "object") {
    const failing = Object.entries(checks as Record<string, unknown>)
      .filter(([, v]) => v !== "ok")
      .map(([name, v]) => `${name}: ${String(v)}`);
    if (failing.length > 0) return failing.join("; ");
  }
  if (typeof detail === "string" && detail) return detail;
  return `HTTP ${status}`;
}
