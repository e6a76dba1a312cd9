import microdiff from "microdiff";

/** The pseudo-path of the HTTP status in a comparison (a JSON pointer is "" or starts with "/"). */
export const STATUS_PATH = ":status";

/** One differing field: JSON pointer, and each side's value (`undefined`: the side lacks the field). */
export type FieldDifference = { path: string; primary: unknown; candidate: unknown };

/** RFC 6901 JSON pointer of a path of keys and indices. */
export function toPointer(path: readonly (string | number)[]): string {
  return path.map((key) => `/${String(key).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

/** The pointer with array indices generalized to `*`: noise learned on item 0 applies to item 7. */
export function generalize(pointer: string): string {
  return pointer.replace(/\/\d+(?=\/|$)/g, "/*");
}

const isContainer = (value: unknown): value is Record<string, unknown> | unknown[] =>
  typeof value === "object" && value !== null;

/**
 * The fields in which two JSON documents differ, by JSON pointer (microdiff does the walk).
 *
 * @example
 * diffJson({ a: 1, b: [1] }, { a: 2, b: [1, 2] }) // [{ path: "/a", … }, { path: "/b/1", primary: undefined, candidate: 2 }]
 */
export function diffJson(primary: unknown, candidate: unknown): FieldDifference[] {
  if (
    !isContainer(primary) ||
    !isContainer(candidate) ||
    Array.isArray(primary) !== Array.isArray(candidate)
  ) {
    return Object.is(primary, candidate) || JSON.stringify(primary) === JSON.stringify(candidate)
      ? []
      : [{ path: "", primary, candidate }];
  }
  return microdiff(primary, candidate).map((difference) => ({
    path: toPointer(difference.path),
    primary: difference.type === "CREATE" ? undefined : difference.oldValue,
    candidate: difference.type === "REMOVE" ? undefined : difference.value,
  }));
}

/**
 * A matcher for ignored paths. `/id` or `/items/*\/createdAt` are JSON pointers from the root (`*` is one
 * key or index, `**` any number); a bare name (`createdAt`) or dotted path (`meta.etag`) matches at any depth.
 * An ignored field's subtree is ignored with it.
 * Hand-written rather than a glob library: glob semantics (dotfiles, braces) do not fit pointer segments.
 */
export function compileIgnore(patterns: readonly string[]): (pointer: string) => boolean {
  const compiled = patterns.map((pattern) =>
    pattern.startsWith("/") ? pattern.slice(1).split("/") : ["**", ...pattern.split(".")],
  );
  if (compiled.length === 0) return () => false;
  return (pointer) => {
    if (pointer === STATUS_PATH) return false;
    const segments = pointer === "" ? [] : pointer.slice(1).split("/");
    return compiled.some((pattern) => matches(pattern, 0, segments, 0));
  };
}

function matches(pattern: string[], p: number, segments: string[], s: number): boolean {
  // The whole pattern matched: the field and everything under it is ignored.
  if (p === pattern.length) return true;
  const head = pattern[p];
  if (head === "**") {
    for (let next = s; next <= segments.length; next++)
      if (matches(pattern, p + 1, segments, next)) return true;
    return false;
  }
  if (s === segments.length) return false;
  const segment = (segments[s] as string).replaceAll("~1", "/").replaceAll("~0", "~");
  return (head === "*" || head === segment) && matches(pattern, p + 1, segments, s + 1);
}
