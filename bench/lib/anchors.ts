/**
 * nginx and haproxy as reference proxies for bench/gateway.ts: their configs are generated at run time into a
 * throwaway directory; both run in the foreground as a single process (nginx `daemon off; master_process off`,
 * haproxy `-db`), so the pid Bun.spawn returns is the proxy itself and stopping it by that pid ends it.
 * Both get one worker / one thread, as the gateway (one JS thread), and listen on 127.0.0.1 only.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Service, serviceEnv, startService } from "./service.ts";

/** nginx `proxy_pass` to an upstream block with `keepalive` (HTTP/1.1, Connection cleared), access log off. */
export function nginxConfig(dir: string, port: number, upstream: URL): string {
  const temp = (name: string) => join(dir, name);
  for (const name of ["body", "proxy", "fastcgi", "uwsgi", "scgi"])
    mkdirSync(temp(name), { recursive: true });
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "nginx-error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${temp("body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  client_max_body_size 0;
  upstream fixed { server ${upstream.host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://fixed;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
    }
  }
}
`;
}

/** haproxy in HTTP mode, keep-alive on both sides, server connections reused (`http-reuse always`). */
export function haproxyConfig(port: number, upstream: URL): string {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend bench
  bind 127.0.0.1:${port}
  default_backend fixed
backend fixed
  server upstream ${upstream.host}
`;
}

export function startNginx(dir: string, port: number, upstream: URL): Service {
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, nginxConfig(dir, port, upstream));
  return startService(["nginx", "-p", dir, "-c", conf], serviceEnv({ PORT: String(port) }), dir);
}

export function startHaproxy(dir: string, port: number, upstream: URL): Service {
  const conf = join(dir, "haproxy.cfg");
  writeFileSync(conf, haproxyConfig(port, upstream));
  return startService(["haproxy", "-db", "-f", conf], serviceEnv({ PORT: String(port) }), dir);
}

/** `nginx -v` / `haproxy -v` first line, or undefined when not installed. */
export async function toolVersion(argv: string[]): Promise<string | undefined> {
  try {
    const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    const text = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    await proc.exited;
    return text.split("\n")[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}
