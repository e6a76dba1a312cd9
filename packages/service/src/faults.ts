import { z } from "zod";
import { createRouter } from "./create-app.ts";
import { AppError, fieldErrorsFromZod, problemResponse } from "./problem.ts";

/** What is injected into /api requests: a share answered 500, and extra latency before every one. */
export type FaultSettings = { errorRate: number; latencyMs: number };

const FaultSettingsSchema = z
  .object({
    errorRate: z.number().min(0).max(1).optional(),
    latencyMs: z.number().int().min(0).max(60_000).optional(),
  })
  .strict();

/**
 * Who an Authorization header names: null when it holds no valid bearer token, else whether the caller is one
 * of the platform's operators (@fig/auth's TokenVerifier and isOperator, kept structural to avoid a cycle).
 */
export type OperatorCheck = (authorization: string) => Promise<{ operator: boolean } | null>;

export type FaultInjectionOptions = Partial<FaultSettings> & {
  /**
   * Who may read and change the settings at `/_fig/faults`: operators only (role `operator` in the operator
   * tenant). The switch fails a service for every tenant, so no tenant's role reaches it, admin included.
   */
  checkOperator: OperatorCheck;
  /** Injected only under these prefixes (the service's API), never on /health, /ready, /metrics, /docs. */
  prefixes?: string[];
  random?: () => number;
  /** Told of each change made at PUT /_fig/faults, before the answer (the audit log records who and what). */
  onChange?: (change: {
    before: FaultSettings;
    after: FaultSettings;
    authorization: string | undefined;
  }) => Promise<void> | void;
};

type Fetch = (request: Request, env?: unknown) => Response | Promise<Response>;

export type FaultInjection = {
  settings(): FaultSettings;
  set(change: Partial<FaultSettings>): FaultSettings;
  /** The service's fetch with faults in front of it and `GET|PUT /_fig/faults` (operators only). */
  wrap(fetch: Fetch): (request: Request, env?: unknown) => Promise<Response>;
};

/**
 * Fault injection for proving load gates: only a service started with `FIG_FAULTS=1` has it (runService
 * wraps its fetch), never by default. Settings come from FIG_FAULT_ERROR_RATE / FIG_FAULT_LATENCY_MS and
 * can be changed at run time with `PUT /_fig/faults {"errorRate":0.05,"latencyMs":300}` (operators only).
 *
 * @example
 * const faults = createFaultInjection({ errorRate: 0.05, checkOperator });
 * Bun.serve({ fetch: faults.wrap(app.fetch) });
 */
export function createFaultInjection({
  errorRate = 0,
  latencyMs = 0,
  checkOperator,
  prefixes = ["/api"],
  random = Math.random,
  onChange,
}: FaultInjectionOptions): FaultInjection {
  let current: FaultSettings = { errorRate, latencyMs };
  const applies = (path: string) => prefixes.some((p) => path === p || path.startsWith(`${p}/`));

  function set(change: Partial<FaultSettings>) {
    current = { ...current, ...change };
    return current;
  }

  function wrap(fetch: Fetch) {
    const app = createRouter();
    app.onError((error, c) =>
      problemResponse(
        c,
        error instanceof AppError ? error : new AppError("internal", "Fault endpoint failed"),
      ),
    );
    app.use("/_fig/faults", async function requireOperator(c, next) {
      const authorization = c.req.header("authorization");
      const caller = authorization ? await checkOperator(authorization) : null;
      if (!caller) throw new AppError("unauthorized", "An operator's valid bearer token is required");
      if (!caller.operator)
        throw new AppError("forbidden", "Operators only: role operator in the operator tenant");
      await next();
    });
    app.get("/_fig/faults", (c) => c.json(current));
    app.put("/_fig/faults", async (c) => {
      const parsed = FaultSettingsSchema.safeParse(await c.req.json().catch(() => null));
      if (!parsed.success) {
        throw new AppError("validation", "Expected {errorRate: 0..1, latencyMs: 0..60000}", {
          errors: fieldErrorsFromZod(parsed.error.issues, "body"),
        });
      }
      const before = current;
      const after = set(parsed.data);
      await onChange?.({ before, after, authorization: c.req.header("authorization") });
      return c.json(after);
    });
    app.all("*", async function injectFaults(c) {
      const { errorRate: rate, latencyMs: delay } = current;
      if (applies(c.req.path)) {
        if (delay > 0) await Bun.sleep(delay);
        if (rate > 0 && random() < rate) {
          c.header("fig-fault", "error");
          return problemResponse(c, new AppError("internal", "Injected fault (FIG_FAULTS)"));
        }
      }
      return fetch(c.req.raw, c.env);
    });
    // Bun passes its server as the second argument (Hono's c.env); pass it on as it came.
    return async (request: Request, env?: unknown) => app.fetch(request, env as object | undefined);
  }

  return { settings: () => current, set, wrap };
}
