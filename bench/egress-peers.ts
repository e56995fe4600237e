// What the egress benches share: nginx as a TLS-originating forward (the peer) and Sidekick's
// config for the same job (tls-terminator, direction: outbound), both to the destination on
// `destPort` whose self-signed certificate is `cert` (name localhost).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nginxMain } from './peer-processes.ts';

/** nginx proxy_pass https:// with proxy_ssl_verify, proxy_ssl_name, session reuse and upstream keepalive; returns the config file. */
export function nginxEgressConf(dir: string, port: number, destPort: number, cert: string): string {
  const file = join(dir, 'fwd.conf');
  writeFileSync(file, `${nginxMain(dir, 'fwd')} http { access_log off; keepalive_requests 100000;
    upstream dest { server 127.0.0.1:${destPort}; keepalive 64; }
    server { listen 127.0.0.1:${port};
      location / { proxy_pass https://dest; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host localhost;
        proxy_ssl_verify on; proxy_ssl_trusted_certificate ${cert}; proxy_ssl_name localhost; proxy_ssl_server_name on;
        proxy_ssl_session_reuse on; proxy_ssl_protocols TLSv1.2 TLSv1.3; } } }`);
  return file;
}

/** Sidekick's egress listener on `port`, access log off; returns the config file. */
export function sidekickEgressConf(dir: string, etc: string, port: number, destPort: number, cert: string): string {
  const file = join(etc, 'sidekick.yaml');
  writeFileSync(file, `admin: { listen: 127.0.0.1:0 }\ndataDir: ${join(dir, 'data')}\nplugins:\n  egress:\n    type: tls-terminator\n    direction: outbound\n    listen: 127.0.0.1:${port}\n    upstream: https://127.0.0.1:${destPort}\n    upstreamTls: { ca: ${cert}, serverName: localhost }\n    accessLog: false\n`);
  return file;
}
