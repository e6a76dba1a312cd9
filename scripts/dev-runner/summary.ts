import { mintDevToken } from "../../packages/auth/src/mint.ts";
import type { DevService } from "./discover.ts";
import { out, s } from "./terminal.ts";

const TOKEN_HINT = "bun run token --sub you --tenant acme --roles editor";

export type Summary = {
  services: DevService[];
  env: Record<string, string | undefined>;
  production: boolean;
  startedAt: number;
  /** "up" when there is no NATS (/ready cannot pass), else "ready". */
  status: "up" | "ready";
  databases: string;
  nats: string;
};

/**
 * Once every service is up: how long it took and on what, how to get a token, and the one URL to use (the
 * gateway's docs), with the console's URL and a dev operator's token to paste into it.
 */
export function printAllReady(o: Summary): void {
  const secs = ((Date.now() - o.startedAt) / 1000).toFixed(1);
  out(
    s.dim(
      `all ${o.services.length} service(s) ${o.status} in ${secs} s · ${o.databases} · ${o.nats} · Ctrl-C to stop`,
    ),
  );
  if (!o.production)
    out(`Get a dev token:  ${s.bold(TOKEN_HINT)}  ${s.dim("(send it as Authorization: Bearer …)")}`);
  const gateway = o.services.find((svc) => svc.name === "gateway");
  if (!gateway) return;
  out(
    `Open ${s.bold(`http://localhost:${gateway.port}/docs`)}  ${s.dim("— the one URL: the gateway routes /api to every service")}`,
  );
  // The console's token line: a dev operator's token (role operator in the operator tenant: the console
  // refuses a tenant's admin) to paste into the page (never in a URL).
  const { env } = o;
  if (!o.production && env.AUTH_DEV_SECRET)
    void mintDevToken({
      secret: env.AUTH_DEV_SECRET,
      sub: "dev-operator",
      tenant: env.FIG_OPERATOR_TENANT ?? "platform",
      roles: ["operator"],
      ttl: "12h",
      issuer: env.AUTH_ISSUER,
      audience: env.AUTH_AUDIENCE,
    })
      .then((token) =>
        out(
          `Console ${s.bold(`http://localhost:${gateway.port}/_fig/console`)}  ${s.dim("paste this dev operator token (12 h):")} ${token}`,
        ),
      )
      .catch(() => {});
}
