import { AppError } from "./problem.ts";

/**
 * Opaque pagination cursors: base64url of a small JSON value. A cursor that does not decode to a value
 * `check` accepts is a 400 at `query.cursor`.
 *
 * @example
 * const nextCursor = encodeCursor({ k: lastKey });
 * const { k } = decodeCursor(cursor, (v): v is { k: string } => typeof (v as { k?: unknown })?.k === "string");
 */
export function encodeCursor(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

export function decodeCursor<T>(cursor: string, check: (v: unknown) => v is T): T {
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const value = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (ch) => ch.charCodeAt(0))));
    if (check(value)) return value;
  } catch {}
  throw new AppError("validation", "The cursor is not one this API issued", {
    errors: [{ location: "query.cursor", message: "Invalid cursor; pass back `nextCursor` unchanged" }],
  });
}
