// Memory per idle TLS connection: N clients each make one keep-alive HTTP/1.1 request over TLS
// 1.3 and then stay connected, silent, against Sidekick's tls-terminator and against nginx 1.22
// (one worker) with the same ECDSA P-256 certificate, one after the other on loopback. Prints
// each server's RSS before and with the N connections open, and the difference per connection
// still open (a server that closed some is divided by those left).
//
// Run (not part of `npm test`; about a minute per server at 10,000):
//   flock /tmp/bench.lock node_modules/.bin/node bench/idle-connections.ts [N=10000]
// Needs nginx (/usr/sbin/nginx), openssl, and `ulimit -n` above N + 100.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'idle-connections-'));
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => r(port));
    });
  });
}

async function waitPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before port ${port} opened`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never opened`);
}

function start(name: string, cmd: string, args: string[]): ChildProcess {
  const fd = openSync(join(dir, `${name}.log`), 'w');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(t);
}

/** RSS in bytes of a process and its children (nginx's worker). */
function rss(pid: number): number {
  const kids = (() => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  })();
  const own = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  return own + kids.reduce((sum, k) => sum + rss(k), 0);
}

/** One keep-alive request on a new TLS connection, which then stays open and silent. */
function idleClient(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], servername: 'localhost' }, () => {
      s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    s.once('data', () => resolve(s));
    s.on('error', reject);
  });
}

async function measure(name: string, port: number, child: ChildProcess): Promise<{ name: string; before: number; after: number; open: number }> {
  await waitPort(port, child);
  for (let i = 0; i < 50; i++) (await idleClient(port)).destroy(); // warm-up
  await new Promise((r) => setTimeout(r, 1000));
  const before = rss(child.pid!);
  const sockets: TLSSocket[] = [];
  for (let i = 0; i < N; i += 100) sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => idleClient(port)))));
  await new Promise((r) => setTimeout(r, 2000));
  const after = rss(child.pid!);
  const open = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) s.destroy();
  await stop(child);
  return { name, before, after, open };
}

async function main(): Promise<void> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const app = http.createServer((_req, res) => res.end('hello\n'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;

  const nginxPort = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err; worker_rlimit_nofile ${N * 2 + 200};
events { worker_connections ${N + 200}; }
http { access_log off; keepalive_timeout 300s;
  upstream app { server 127.0.0.1:${appPort}; keepalive 64; }
  server { listen 127.0.0.1:${nginxPort} ssl; ssl_certificate ${cert}; ssl_certificate_key ${key}; ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`);
  const sidekickPort = await freePort();
  writeFileSync(join(dir, 'sidekick.yaml'), `admin: { listen: 127.0.0.1:0 }
dataDir: ${dir}/data
plugins:
  https:
    type: tls-terminator
    listen: 127.0.0.1:${sidekickPort}
    upstream: http://127.0.0.1:${appPort}
    tls: { cert: ${cert}, key: ${key} }
    timeouts: { idle: 5m }
    limits: { maxConnections: ${N + 100} }
    accessLog: false
`);
  const rows = [];
  rows.push(await measure('nginx 1.22, 1 worker', nginxPort, start('nginx', '/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir])));
  rows.push(await measure('Sidekick tls-terminator (sources)', sidekickPort, start('sidekick', process.execPath, [join(ROOT, 'bin/sidekick.js'), 'run', '--config', join(dir, 'sidekick.yaml')])));
  app.close();
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  console.log(`\n${N} idle TLS 1.3 connections (one keep-alive request each), ${new Date().toISOString()}\n`);
  console.log('| server | RSS before | RSS with the connections | per connection | still open |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${mb(r.before)} | ${mb(r.after)} | ${((r.after - r.before) / Math.max(1, r.open) / 1024).toFixed(1)} KB | ${r.open} |`);
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
