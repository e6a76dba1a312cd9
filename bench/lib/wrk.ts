/**
 * Running wrk (Debian package `wrk`, 4.1) from a benchmark: a Lua script sets the request headers and prints
 * one JSON line of results in `done()`, which is parsed here (no scraping of wrk's text report).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export type WrkResult = {
  requests: number;
  seconds: number;
  /** requests ÷ seconds */
  rps: number;
  /** Latency percentiles in ms (wrk measures from write to full response, closed loop). */
  p50: number;
  p99: number;
  max: number;
  /** Responses with status > 399 (wrk's `errors.status`). */
  non2xx: number;
  /** connect + read + write + timeout errors. */
  errors: number;
  /** CPU (user + sys) wrk itself used, from its rusage. */
  cpuSeconds: number;
};

const DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"wrk":1,"requests":%d,"us":%d,"p50":%d,"p99":%d,"max":%d,"status":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
`;

/** Writes the Lua script wrk runs into `dir` (headers are Lua string literals; JSON quoting is valid Lua). */
export function writeWrkScript(dir: string, name: string, headers: Record<string, string>): string {
  const path = join(dir, `${name}.lua`);
  const sets = Object.entries(headers)
    .map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
    .join("\n");
  writeFileSync(path, `${sets}\n${DONE}`);
  return path;
}

/** `wrk -t<threads> -c<connections> -d<seconds>s -s <script> <url>`; throws with wrk's output if it fails. */
export async function runWrk(options: {
  url: string;
  script: string;
  connections: number;
  threads: number;
  seconds: number;
}): Promise<WrkResult> {
  const { url, script, connections, threads, seconds } = options;
  const proc = Bun.spawn(
    ["wrk", `-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", script, url],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const json = out.split("\n").find((l) => l.startsWith('{"wrk":1'));
  if (code !== 0 || !json) throw new Error(`wrk exited ${code}:\n${out}\n${err}`);
  const r = JSON.parse(json) as Record<string, number>;
  const usage = proc.resourceUsage()?.cpuTime;
  const s = (r.us ?? 0) / 1e6;
  return {
    requests: r.requests ?? 0,
    seconds: s,
    rps: (r.requests ?? 0) / s,
    p50: (r.p50 ?? 0) / 1000,
    p99: (r.p99 ?? 0) / 1000,
    max: (r.max ?? 0) / 1000,
    non2xx: r.status ?? 0,
    errors: r.errors ?? 0,
    cpuSeconds: usage ? Number(usage.user + usage.system) / 1e6 : 0,
  };
}

/** wrk's version line, or undefined when wrk is not on PATH. */
export async function wrkVersion(): Promise<string | undefined> {
  try {
    const proc = Bun.spawn(["wrk", "--version"], { stdout: "pipe", stderr: "pipe" });
    const text = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    await proc.exited;
    return text
      .split("\n")[0]
      ?.replace(/ Copyright.*/, "")
      .trim();
  } catch {
    return undefined;
  }
}
