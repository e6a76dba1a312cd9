/** Where and as whom a service asks the identity service for tokens (AUTH_TOKEN_URL, AUTH_CLIENT_ID, …). */
export type ClientCredentials = { tokenUrl: string; clientId: string; clientSecret: string };

export type ServiceTokenSourceOptions = ClientCredentials & {
  /** Space-separated scopes to ask for; default every scope the client holds. */
  scope?: string;
  /** A token is renewed this long before it expires. Default 60 s. */
  renewBeforeSeconds?: number;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
};

/** Returns a bearer token for service-to-service calls, renewed before it expires. */
export type ServiceTokenSource = () => Promise<string>;

/**
 * A client-credentials token fetcher (RFC 6749 §4.4): one request per token lifetime, shared by concurrent
 * callers; a failed request throws and the next call asks again.
 *
 * @example
 * const token = createServiceTokenSource({ ...config.auth.client, scope: "reference:export" });
 * await fetch(url, { headers: { authorization: `Bearer ${await token()}` } });
 */
export function createServiceTokenSource({
  tokenUrl,
  clientId,
  clientSecret,
  scope,
  renewBeforeSeconds = 60,
  fetch: fetchImpl = fetch,
}: ServiceTokenSourceOptions): ServiceTokenSource {
  let held: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;

  async function request(): Promise<string> {
    const body = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: clientSecret,
      ...(scope ? { scope } : {}),
    });
    const res = await fetchImpl(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`token request to ${tokenUrl} as ${clientId}: HTTP ${res.status}`);
    const answer = (await res.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof answer.access_token !== "string" || typeof answer.expires_in !== "number")
      throw new Error(`token response from ${tokenUrl} lacks access_token or expires_in`);
    const lifetime = Math.max(0, answer.expires_in - renewBeforeSeconds);
    held = { token: answer.access_token, renewAt: Date.now() + lifetime * 1000 };
    return answer.access_token;
  }

  return function serviceToken() {
    if (held && Date.now() < held.renewAt) return Promise.resolve(held.token);
    pending ??= request().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
