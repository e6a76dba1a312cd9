import type { AuditRecorder } from "@fig/audit/publish";
import type { RouteStateStore } from "./types.ts";

export type AuditedStoreOptions = {
  recorder: Pick<AuditRecorder, "record">;
  /**
   * The actor's tenant: only operators pass /_fig's guard, so every change is made from the operator tenant
   * (the store's change metadata carries the token's `sub` alone).
   */
  actorTenant: string;
};

/**
 * The route state store, with every change it applies recorded in the audit log: who, what, from, to, why.
 * The change is made first (NATS KV, compare-and-set), then recorded: a change the store refused (a stale
 * If-Match, NATS down) records nothing, and one it made is never undone for want of a log entry. The entry's
 * id is the route and its new KV revision, so a retry or a second replica cannot record it twice; a publish
 * that fails is kept in memory, logged and retried by the recorder.
 *
 * @example
 * const store = withAudit(createKvRouteStore({ … }), { recorder, actorTenant: config.FIG_OPERATOR_TENANT });
 */
export function withAudit(
  store: RouteStateStore,
  { recorder, actorTenant }: AuditedStoreOptions,
): RouteStateStore {
  return {
    get: (id) => store.get(id),
    list: () => store.list(),
    health: () => store.health(),
    start: () => store.start(),
    stop: () => store.stop(),
    async change(id, change, meta) {
      const live = await store.change(id, change, meta);
      const last = live.history.at(-1);
      await recorder.record({
        // The update time too: a KV bucket made anew (a dev reset) counts revisions from 1 again.
        eventId: `gateway:route:${id}:rev:${live.revision}:${live.updatedAt}`,
        at: live.updatedAt || new Date().toISOString(),
        actor: { sub: meta.who, tenant: actorTenant },
        kind: change.kind,
        subject: id,
        from: last?.what === change.kind ? last.from : null,
        to: last?.what === change.kind ? last.to : null,
        reason: meta.why,
        data: { revision: live.revision },
      });
      return live;
    },
  };
}
