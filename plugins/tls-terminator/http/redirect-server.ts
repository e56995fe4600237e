// Optional plain-HTTP listener: every request is answered with a 308 to the same URL on https.
import type { Server } from 'node:http';
import { loadHttp } from '../../../src/plugin-api.ts';

const http = loadHttp();

export function createRedirectServer(httpsPort: number): Server {
  const suffix = httpsPort === 443 ? '' : `:${httpsPort}`;
  return http.createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
    const ok = /^[a-z0-9.\-]+$|^\[[0-9a-f:.]+\]$/i.test(host);
    res.writeHead(ok ? 308 : 400, ok ? { location: `https://${host}${suffix}${req.url ?? '/'}`, 'content-length': 0 } : { 'content-length': 0 });
    res.end();
  });
}
