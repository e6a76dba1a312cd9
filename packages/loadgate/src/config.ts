/** The one place @fig/loadgate reads the environment: k6 scripts see the system environment in __ENV. */
export function systemEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v;
  return out;
}
