/** The one place the test kit reads the environment. */
export const testConfig = {
  databaseUrl: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
};
