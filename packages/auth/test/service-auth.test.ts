import { describe, expect, test } from "bun:test";
import { readAuthConfig } from "../src/config.ts";

describe("readAuthConfig: pinned algorithms and a service's client credentials", () => {
  const jwks = { AUTH_JWKS_URL: "https://id.example/.well-known/jwks.json" };

  test("production pins EdDSA unless AUTH_ALGORITHMS says otherwise; development leaves the verifier's default", () => {
    expect(readAuthConfig({ NODE_ENV: "production", ...jwks }).algorithms).toEqual(["EdDSA"]);
    expect(
      readAuthConfig({ NODE_ENV: "production", ...jwks, AUTH_ALGORITHMS: "ES256, EdDSA" }).algorithms,
    ).toEqual(["ES256", "EdDSA"]);
    expect(readAuthConfig({}).algorithms).toBeUndefined();
    expect(() => readAuthConfig({ AUTH_ALGORITHMS: "HS256" })).toThrow(
      /AUTH_ALGORITHMS: must be a comma-separated subset/,
    );
  });

  test("the client-credentials variables come all three or none", () => {
    const client = {
      AUTH_TOKEN_URL: "http://identity:8084/oauth/token",
      AUTH_CLIENT_ID: "validation",
      AUTH_CLIENT_SECRET: "s3cret",
    };
    expect(readAuthConfig(client).client).toEqual({
      tokenUrl: client.AUTH_TOKEN_URL,
      clientId: "validation",
      clientSecret: "s3cret",
    });
    expect(readAuthConfig({}).client).toBeUndefined();
    expect(() => readAuthConfig({ AUTH_CLIENT_ID: "validation" })).toThrow(
      /AUTH_TOKEN_URL: is required with AUTH_CLIENT_ID[\s\S]*AUTH_CLIENT_SECRET: is required with AUTH_CLIENT_ID/,
    );
  });
});
