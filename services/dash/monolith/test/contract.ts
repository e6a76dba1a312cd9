import { expect } from "bun:test";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

type Operation = {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};
type Document = { paths: Record<string, Record<string, Operation>> };

/**
 * Checks real responses against a generated OpenAPI 3.1 document (openapi/<service>.json): the operation is
 * found by method and path, the status must be documented, and the body must match the documented media
 * type's schema (JSON Schema 2020-12, validated by Ajv with formats). Records which operations were checked.
 */
export async function loadContract(service: string) {
  const path = fileURLToPath(new URL(`../../../../openapi/${service}.json`, import.meta.url));
  const doc = (await Bun.file(path).json()) as Document;
  const id = `https://fig.invalid/openapi/${service}.json`;
  // strict: false because OpenAPI schemas carry keywords Ajv does not know (example, openapi extensions).
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: id });
  const routes = Object.entries(doc.paths).flatMap(([template, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+").replace(/\./g, "\\.")}$`),
      op,
    })),
  );
  const checked = new Set<string>();
  const pointer = (...parts: string[]) =>
    parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

  return {
    operations: routes.map((r) => r.op.operationId),
    checked,
    /**
     * Asserts `res` is a documented response of the operation serving `method url`. `as` checks the body
     * against another operation's response instead (a documented legacy difference); `omit` drops fields
     * the README lists as legacy additions before validating.
     */
    async expectConforms(
      method: string,
      url: string,
      res: Response,
      options: { as?: { operationId: string; status: string }; omit?: string[] } = {},
    ) {
      const pathname = new URL(url, "http://x").pathname;
      // Literal segments win over templates (`/export` before `/{code}`), as in the router.
      const route = routes
        .filter((r) => r.method === method && r.pattern.test(pathname))
        .sort((a, b) => a.template.split("{").length - b.template.split("{").length)[0];
      expect(route, `${method} ${pathname} is not in openapi/${service}.json`).toBeDefined();
      if (!route) return;
      checked.add(route.op.operationId);
      const target = options.as
        ? (routes.find((r) => r.op.operationId === options.as?.operationId) ?? route)
        : route;
      const status = options.as?.status ?? String(res.status);
      const response = target.op.responses[status];
      expect(response, `${route.op.operationId}: status ${status} is not documented`).toBeDefined();
      const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
      const content = response?.content;
      if (!content) {
        expect(await res.text()).toBe("");
        return;
      }
      expect(Object.keys(content), `${route.op.operationId} ${status}`).toContain(type);
      if (!type.endsWith("json")) {
        expect(typeof (await res.text())).toBe("string");
        return;
      }
      const body = (await res.json()) as Record<string, unknown>;
      const strip = (value: unknown): unknown => {
        if (Array.isArray(value)) return value.map(strip);
        if (!value || typeof value !== "object") return value;
        const copy = { ...(value as Record<string, unknown>) };
        for (const key of options.omit ?? []) delete copy[key];
        return Object.fromEntries(Object.entries(copy).map(([k, v]) => [k, strip(v)]));
      };
      const ref = `${id}#/${pointer("paths", target.template, target.method.toLowerCase(), "responses", status, "content", type, "schema")}`;
      const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
      const ok = validate(strip(body));
      expect(
        ok ? [] : validate.errors,
        `${route.op.operationId} ${status}: ${JSON.stringify(body).slice(0, 300)}`,
      ).toEqual([]);
      return body;
    },
  };
}
