import { parseArgs } from "node:util";
import { loadAuthConfigFromProcess, resolveDevSecret } from "./config.ts";
import { mintDevToken } from "./mint.ts";
import { isRole, ROLES, type Role } from "./roles.ts";
import { parseTtlSeconds } from "./ttl.ts";

const USAGE = `Usage: bun run token --sub <user> --tenant <tenant> --roles <role>[,<role>...] [--ttl 1h]

Prints an HS256 dev token signed with AUTH_DEV_SECRET (or the built-in dev default).
An operator (the gateway's /_fig and console): --sub you --tenant platform --roles operator.
  --sub      subject (user id)
  --tenant   tenant id
  --roles    comma-separated, from: ${ROLES.join(", ")}
  --ttl      lifetime: seconds or 30m, 1h, 2d (default 1h)`;

class UsageError extends Error {}

type TokenRequest = { sub: string; tenant: string; roles: Role[]; ttl: string };

function readArgs(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        sub: { type: "string" },
        tenant: { type: "string" },
        roles: { type: "string" },
        ttl: { type: "string", default: "1h" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseRoles(list: string): Role[] {
  const names = list
    .split(",")
    .map((role) => role.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UsageError("--roles is required");
  const unknown = names.filter((role) => !isRole(role));
  if (unknown.length > 0) throw new UsageError(`unknown role ${unknown.join(", ")}; use ${ROLES.join(", ")}`);
  return names.filter(isRole);
}

function parseTokenRequest(argv: string[]): TokenRequest | "help" {
  const values = readArgs(argv);
  if (values.help) return "help";
  const sub = values.sub?.trim();
  const tenant = values.tenant?.trim();
  const ttl = values.ttl.trim();
  if (!sub) throw new UsageError("--sub is required");
  if (!tenant) throw new UsageError("--tenant is required");
  const roles = parseRoles(values.roles ?? "");
  try {
    parseTtlSeconds(ttl);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return { sub, tenant, roles, ttl };
}

async function main(argv: string[]): Promise<number> {
  let request: TokenRequest | "help";
  try {
    request = parseTokenRequest(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (request === "help") {
    console.log(USAGE);
    return 0;
  }
  const config = loadAuthConfigFromProcess();
  const token = await mintDevToken({
    ...request,
    secret: resolveDevSecret(config),
    issuer: config.issuer,
    audience: config.audience,
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
