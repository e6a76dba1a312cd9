import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * The scaffold's templates: files under templates/ named like what they become, with `__name__` /
 * `__resource__` in paths and `{{key}}` in text. A line holding only `{{#db}}` … `{{/db}}` keeps the lines
 * between when the service has a database, `{{^db}}` … `{{/db}}` when it has none. A file ending
 * `.db.tmpl` is written only with a database, `.memory.tmpl` only without.
 */
export const TEMPLATES = join(import.meta.dir, "templates");

export type RenderedFile = { path: string; text: string };

/** Replaces `{{key}}` with `values[key]`; an unknown key is a bug in a template, so it throws. */
export function fill(text: string, values: Record<string, string>, where: string): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`${where}: unknown placeholder {{${key}}}`);
    return value;
  });
}

/** Keeps or drops the `{{#flag}}` / `{{^flag}}` blocks (whole lines, not nested) by `flags`. */
export function applyBlocks(text: string, flags: Record<string, boolean>, where: string): string {
  const out: string[] = [];
  let open: { flag: string; keep: boolean } | undefined;
  for (const line of text.split("\n")) {
    const marker = /^\s*\{\{([#^/])(\w+)\}\}\s*$/.exec(line);
    if (!marker) {
      if (!open || open.keep) out.push(line);
      continue;
    }
    const [, kind, flag = ""] = marker;
    if (!(flag in flags)) throw new Error(`${where}: unknown block {{${kind}${flag}}}`);
    if (kind === "/") {
      if (open?.flag !== flag) throw new Error(`${where}: {{/${flag}}} closes no block`);
      open = undefined;
    } else {
      if (open) throw new Error(`${where}: blocks do not nest ({{${kind}${flag}}} inside {{#${open.flag}}})`);
      open = { flag, keep: kind === "#" ? Boolean(flags[flag]) : !flags[flag] };
    }
  }
  if (open) throw new Error(`${where}: {{#${open.flag}}} is never closed`);
  return out.join("\n");
}

function listTemplates(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTemplates(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** Every template rendered for one service: paths relative to the repository root. */
export function renderTemplates(
  values: Record<string, string>,
  flags: { db: boolean },
  dir = TEMPLATES,
): RenderedFile[] {
  const files: RenderedFile[] = [];
  for (const file of listTemplates(dir).sort()) {
    const template = relative(dir, file);
    if (!template.endsWith(".tmpl")) continue;
    if (template.endsWith(".db.tmpl") && !flags.db) continue;
    if (template.endsWith(".memory.tmpl") && flags.db) continue;
    const target = template
      .replace(/(\.db|\.memory)?\.tmpl$/, "")
      .replace(/__name__/g, values.name ?? "")
      .replace(/__resource__/g, values.resource ?? "");
    const text = fill(applyBlocks(readFileSync(file, "utf8"), flags, template), values, template);
    files.push({ path: target, text });
  }
  return files;
}
