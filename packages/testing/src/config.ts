/** The one place the test kit reads the environment. */
export const testConfig = {
  databaseUrl: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  /** The JetStream server tests share (CI starts one there; compose.yaml's is on the same port). */
  natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  /** CI=true (or any value but "", "0", "false"): the suite refuses the PGlite fallback. */
  ci: !["", "0", "false"].includes((process.env.CI ?? "").trim().toLowerCase()),
};
