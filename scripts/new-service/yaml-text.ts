/**
 * Line-level edits of YAML files people write by hand (compose.yaml, fig.yaml): the scaffold adds lines and
 * touches nothing else, so every comment, blank line and flow map stays as its author left it.
 */

/** [start, end) of the block under the line matching `header` at `indent` spaces; undefined when absent. */
export function blockOf(lines: string[], header: RegExp, indent: number, from = 0, to = lines.length) {
  const start = lines.findIndex((line, i) => i >= from && i < to && header.test(line));
  if (start === -1) return undefined;
  let end = start + 1;
  for (; end < to; end++) {
    const line = lines[end] as string;
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    if (line.length - line.trimStart().length <= indent) break;
  }
  // Trailing blank lines, and comments no deeper than the header, belong to what follows, not to this block.
  const belongsAfter = (line: string) =>
    line.trim() === "" ||
    (line.trimStart().startsWith("#") && line.length - line.trimStart().length <= indent);
  while (end > start + 1 && belongsAfter(lines[end - 1] as string)) end--;
  return { start, end };
}
