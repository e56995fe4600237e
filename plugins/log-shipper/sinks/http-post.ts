// One HTTP(S) POST with keep-alive, timeout, abort and TLS options, plus the retry rules
// every HTTP sink shares: 2xx ok; 408, 429 and 5xx transient (Retry-After honoured);
// any other status permanent.
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { loadHttp, type PluginContext } from '../../../src/plugin-api.ts';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import type { TlsConfig } from '../config-schema.ts';
import { SinkError } from '../event.ts';

const http = loadHttp();

const MAX_BODY = 1 << 20;

export interface HttpOptions {
  headers: Record<string, string>;
  auth?: { basic: { username: string; password: string } } | { bearer: string } | undefined;
  gzip: boolean;
  timeout: number;
  tls?: TlsConfig | undefined;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export class HttpPoster {
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly opts: HttpOptions;
  private readonly secure: boolean;

  constructor(url: string, opts: HttpOptions, ctx: PluginContext, contentType: string) {
    this.opts = opts;
    this.secure = url.startsWith('https:');
    const tls = opts.tls;
    this.agent = this.secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 1,
          ...(tls?.ca ? { ca: readFileSync(ctx.resolvePath(tls.ca)) } : {}),
          ...(tls?.cert ? { cert: readFileSync(ctx.resolvePath(tls.cert)) } : {}),
          ...(tls?.key ? { key: readFileSync(ctx.resolvePath(tls.key)) } : {}),
          ...(tls?.serverName ? { servername: tls.serverName } : {}),
          rejectUnauthorized: !tls?.insecureSkipVerify,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.headers = { 'content-type': contentType, 'user-agent': 'sidekick-log-shipper', ...lower(opts.headers) };
    if (opts.gzip) this.headers['content-encoding'] = 'gzip';
    const auth = opts.auth;
    if (auth && 'basic' in auth) this.headers.authorization = `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}`;
    else if (auth) this.headers.authorization = `Bearer ${auth.bearer}`;
  }

  /** POSTs and returns the response; throws a SinkError on a non-2xx status or a network error. */
  async post(url: string, body: Buffer, signal: AbortSignal): Promise<HttpResponse> {
    const payload = this.opts.gzip ? gzipSync(body, { level: 1 }) : body;
    const res = await this.request(url, payload, signal);
    if (res.status >= 200 && res.status < 300) return res;
    const transient = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new SinkError(`HTTP ${res.status} from ${redact(url)}: ${res.body.slice(0, 200)}`, {
      code: transient ? 'ERR_SIDEKICK_LOGS_SINK_TRANSIENT' : 'ERR_SIDEKICK_LOGS_SINK_REJECTED',
      retryable: transient,
      ...(res.retryAfterMs !== undefined ? { retryAfterMs: res.retryAfterMs } : {}),
    });
  }

  private request(url: string, payload: Buffer, signal: AbortSignal): Promise<HttpResponse & { retryAfterMs?: number }> {
    return new Promise((resolve, reject) => {
      const mod = this.secure ? https : http;
      const req = mod.request(url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...this.headers, 'content-length': String(payload.length) },
        timeout: this.opts.timeout,
        signal,
      });
      req.on('timeout', () => req.destroy(new SinkError(`no response from ${redact(url)} within ${this.opts.timeout} ms`, { code: 'ERR_SIDEKICK_LOGS_SINK_TIMEOUT', retryable: true })));
      req.on('error', reject);
      req.on('response', (res) => {
        // Keep at most 1 MiB of the answer (bulk replies); a huge error page must not eat memory.
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (c: Buffer) => {
          if (kept >= MAX_BODY) return;
          chunks.push(c);
          kept += c.length;
        });
        res.on('error', reject);
        res.on('end', () => {
          const retryAfter = parseRetryAfter(res.headers['retry-after']);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) });
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Retry-After as delay-seconds or an HTTP-date, in ms (capped at 10 minutes). */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), 600_000) : undefined;
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
