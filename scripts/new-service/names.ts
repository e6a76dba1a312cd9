/**
 * The names a new service is written with, all derived from two slugs: the service (`case-notes`) and its
 * resource's plural (`notes`, the URL segment under /api). Templates read only these.
 */
export type ServiceNames = {
  /** Service slug: folder, package `@fig/<name>`, compose service, route and upstream name. */
  name: string;
  /** Words of the service for prose ("case notes"). */
  nameWords: string;
  /** Environment prefix: `CASE_NOTES` (the gateway reads `CASE_NOTES_URL`). */
  env: string;
  /** Its Postgres database (`case_notes`), as the dev runner and compose.yaml name it. */
  database: string;
  /** The resource's URL segment: `/api/<resource>`. */
  resource: string;
  /** The resource's table (`notes`). */
  table: string;
  /** camelCase plural (`notes`), PascalCase plural (`Notes`) and singular (`Note`). */
  plural: string;
  Plural: string;
  Singular: string;
  /** Words for prose: "case notes", "case note"; a title ("Case notes") for tags and descriptions. */
  pluralWords: string;
  pluralTitle: string;
  singularWords: string;
  /** Kebab singular for metric tags (`note`). */
  singularSlug: string;
};

const SLUG = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const MAX_LENGTH = 40;

/** The component names every service's OpenAPI document has already (createApp's and the problem catalog's). */
const TAKEN_COMPONENTS = new Set(["Problem", "FieldError", "Health", "Ready"]);

/** Why `slug` cannot name a service or resource, or undefined when it can. */
export function slugProblem(slug: string, what: "service name" | "resource"): string | undefined {
  if (slug.length === 0) return `the ${what} is empty`;
  if (slug.length > MAX_LENGTH) return `the ${what} "${slug}" is longer than ${MAX_LENGTH} characters`;
  if (!SLUG.test(slug))
    return `the ${what} "${slug}" must be lowercase letters and digits in dash-separated words, starting with a letter (like "case-notes")`;
  return undefined;
}

const words = (slug: string) => slug.split("-");
const capital = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
const pascal = (slug: string) => words(slug).map(capital).join("");
const camel = (slug: string) => {
  const p = pascal(slug);
  return p.charAt(0).toLowerCase() + p.slice(1);
};

/** English singular of the last word of a plural slug: `case-notes` → `case-note`, `entries` → `entry`. */
export function singularOf(plural: string): string {
  const parts = words(plural);
  const last = parts.pop() ?? plural;
  let one = last;
  if (/[^aeiou]ies$/.test(last)) one = `${last.slice(0, -3)}y`;
  else if (/(s|x|z|ch|sh)es$/.test(last)) one = last.slice(0, -2);
  // "status", "analysis", "class": already singular (or Latin); left as they are.
  else if (/[^sui]s$/.test(last)) one = last.slice(0, -1);
  return [...parts, one].join("-");
}

/**
 * Every name the templates use, from the service slug and the resource's plural (default: the service's name).
 * Throws a message for the user when either cannot be used.
 */
export function deriveNames(name: string, resource = name): ServiceNames {
  const problem = slugProblem(name, "service name") ?? slugProblem(resource, "resource");
  if (problem) throw new Error(problem);
  const singular = singularOf(resource);
  const Singular = pascal(singular);
  if (TAKEN_COMPONENTS.has(Singular))
    throw new Error(
      `the resource "${resource}" would name its schema "${Singular}", which every service's OpenAPI document already has; choose another --resource`,
    );
  return {
    name,
    nameWords: words(name).join(" "),
    env: name.toUpperCase().replace(/-/g, "_"),
    database: name.replace(/-/g, "_"),
    resource,
    table: resource.replace(/-/g, "_"),
    plural: camel(resource),
    Plural: pascal(resource),
    Singular,
    pluralWords: words(resource).join(" "),
    pluralTitle: capital(words(resource).join(" ")),
    singularWords: words(singular).join(" "),
    singularSlug: singular,
  };
}
