import type { AuditRecord } from "@fig/audit";
import type { FigEvent } from "@fig/events";

/**
 * An identity service event as an audit record: who acted (the user, the admin who changed a user, or identity
 * itself for a key rotation), on whom, from what to what. Events of other types are not the log's.
 */
export function identityRecord(event: FigEvent): AuditRecord | undefined {
  const base = { at: event.time, from: null, to: null, reason: null, data: null };
  const tenant = event.tenant ?? null;
  switch (event.type) {
    case "identity.login.succeeded": {
      const d = event.data as FigEvent<"identity.login.succeeded">["data"];
      return {
        ...base,
        kind: "identity.login",
        actor: { sub: d.userId, tenant },
        subject: d.email,
        data: { sessionId: d.sessionId, ip: d.ip },
      };
    }
    case "identity.login.failed": {
      const d = event.data as FigEvent<"identity.login.failed">["data"];
      // Nobody proved who they are: the actor is the address, the email only what was claimed.
      return {
        ...base,
        kind: "identity.login-failed",
        actor: { sub: d.ip ?? "unknown", tenant },
        subject: d.email,
        reason: d.reason,
        data: { ip: d.ip },
      };
    }
    case "identity.session.revoked": {
      const d = event.data as FigEvent<"identity.session.revoked">["data"];
      return {
        ...base,
        kind: "identity.revoked",
        actor: { sub: d.userId, tenant },
        subject: d.sessionId,
        reason: d.reason,
      };
    }
    case "identity.user.invited": {
      const d = event.data as FigEvent<"identity.user.invited">["data"];
      return {
        ...base,
        kind: "identity.user-changed",
        actor: { sub: d.by, tenant },
        subject: d.userId,
        to: { email: d.email, roles: d.roles, status: "invited" },
        reason: "invited",
      };
    }
    case "identity.user.changed": {
      const d = event.data as FigEvent<"identity.user.changed">["data"];
      return {
        ...base,
        kind: "identity.user-changed",
        actor: { sub: d.by, tenant },
        subject: d.userId,
        from: { roles: d.roles?.from ?? null, status: d.status?.from ?? null },
        to: { roles: d.roles?.to ?? null, status: d.status?.to ?? null },
        data: d.passwordSet ? { passwordSet: true } : null,
      };
    }
    case "identity.key.rotated": {
      const d = event.data as FigEvent<"identity.key.rotated">["data"];
      return {
        ...base,
        kind: "identity.key-rotated",
        actor: { sub: "identity", tenant: null },
        subject: "signing-keys",
        from: { retired: d.retired },
        to: { current: d.current, next: d.next },
      };
    }
    default:
      return undefined;
  }
}
