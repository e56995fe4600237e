// Shared pieces for the tls-terminator tests: real certificates made with the openssl CLI
// (a CA, server certs, client certs with SPIFFE URIs), a real upstream app, and the real agent.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type AgentProcess, startAgent, tempDir } from '../../helpers/agent-process.ts';

export { eventually } from '../../helpers/recorder.ts';

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export interface Pki {
  dir: string;
  ca: string;
  /** Writes a key + cert signed by the CA (or self-signed with selfSigned); returns the file paths. */
  issue(name: string, opts: { cn: string; san: string; client?: boolean; selfSigned?: boolean; days?: number }): { cert: string; key: string };
}

export function createPki(dir: string): Pki {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Test CA');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    issue(name, opts) {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.crt`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, `subjectAltName=${opts.san}\nextendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}\n`);
      openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', `/CN=${opts.cn}`);
      if (opts.selfSigned) openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-signkey', key, '-out', cert, '-days', String(opts.days ?? 2), '-extfile', ext);
      else openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', cert, '-days', String(opts.days ?? 2), '-extfile', ext);
      return { cert, key };
    },
  };
}

export interface App {
  /** Progress of each /download response, in arrival order (backpressure tests). */
  downloads: Array<{ sent: number; closed: boolean }>;
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

/**
 * The "legacy app": /echo answers the request head as JSON; /upload answers byte count and
 * sha256 of the body; /download?bytes=N streams N bytes; /slow?ms=N waits before answering.
 */
export async function startApp(): Promise<App> {
  const app = { downloads: [] as App['downloads'] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return;
    }
    if (url.pathname === '/download') {
      let left = Number(url.searchParams.get('bytes'));
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const progress = { sent: 0, closed: false };
      app.downloads.push(progress);
      res.on('close', () => (progress.closed = true));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          progress.sent += n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    if (url.pathname === '/slow') {
      const t = setTimeout(() => res.end('slow done'), Number(url.searchParams.get('ms')));
      res.on('close', () => clearTimeout(t));
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    downloads: app.downloads,
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export interface Terminator {
  agent: AgentProcess;
  port: number;
  dir: string;
  status(): Promise<any>;
  metrics(): Promise<string>;
}

/** Starts the real agent with one tls-terminator instance named `https`; `pluginYaml` is indented by the caller. */
export async function startTerminator(dir: string, pluginYaml: string): Promise<Terminator> {
  const yaml = `admin: { listen: 127.0.0.1:0 }\ndataDir: ${join(dir, 'data')}\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n${pluginYaml}`;
  const agent = await startAgent(dir, yaml);
  const status = await agent.status();
  const port = status.plugins?.https?.details?.port ?? status.instances?.https?.details?.port ?? findPort(status);
  return {
    agent,
    port,
    dir,
    status: () => agent.status(),
    metrics: async () => (await fetch(`${agent.adminUrl}/metrics`)).text(),
  };
}

function findPort(status: any): number {
  const json = JSON.stringify(status);
  const m = /"port":(\d+)/.exec(json);
  if (!m) throw new Error(`no port in /status: ${json}`);
  return Number(m[1]);
}

/**
 * The app (startApp's, or the one `start` makes) and one agent in front of it, for a whole test
 * file; `close` stops both and removes the temp dir.
 */
export async function startFront<A extends { close(): Promise<void> } = App>(
  pluginYaml: (app: A) => string,
  start: () => Promise<A> = startApp as unknown as () => Promise<A>,
): Promise<{ app: A; term: Terminator; close(): Promise<void> }> {
  const app = await start();
  const t = await tempDir();
  const term = await startTerminator(t.path, pluginYaml(app));
  return {
    app,
    term,
    close: async () => {
      await term.agent.stop();
      await app.close();
      await t.cleanup();
    },
  };
}

/** One HTTPS request with a fresh connection; resolves with status, headers and body. */
export function request(
  port: number,
  opts: https.RequestOptions & { body?: Buffer | string; path?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, rejectUnauthorized: false, agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * One request on a new TLS connection of one version, offering `session` for resumption:
 * whether the server resumed it, and the session (ticket) it gave for next time.
 */
export function tlsVisit(port: number, version: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<{ reused: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    let got: Buffer | undefined;
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: version, maxVersion: version, ALPNProtocols: ['http/1.1'], ...(session ? { session } : {}) });
    s.on('session', (b: Buffer) => (got = b));
    s.on('secureConnect', () => s.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    s.on('data', () => {});
    s.on('end', () => resolve({ reused: s.isSessionReused(), session: got }));
    s.on('error', reject);
  });
}

export async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const t = await tempDir('sidekick-tls-');
  try {
    return await fn(t.path);
  } finally {
    await t.cleanup();
  }
}

export { tempDir };
