// testssl.sh against Sidekick's tls-terminator and against nginx 1.22, both with the same RSA-2048
// certificate and Mozilla's "intermediate" settings (guidelines 5.7), on loopback, one after the
// other; prints both summaries and every finding Sidekick has that nginx does not.
//
// Run (not part of `npm test`; about 2-5 minutes per server, no network needed):
//   node_modules/.bin/node bench/testssl-compare.ts            # testssl --fast
//   node_modules/.bin/node bench/testssl-compare.ts --full     # without --fast (slower)
// Needs /usr/bin/testssl (Debian package testssl.sh), nginx (/usr/sbin/nginx) and openssl.
// Exit code 1 when Sidekick has a finding nginx does not.
//
// Sidekick runs with its defaults (only listen, upstream, cert and key set): what it ships is
// what is compared. nginx gets Mozilla's intermediate config for nginx, as the generator writes
// it (ssl_protocols, ssl_ecdh_curve, ssl_ciphers, ssl_prefer_server_ciphers off, ffdhe2048
// ssl_dhparam, session cache, tickets off), without HSTS and OCSP stapling, which Sidekick's
// defaults do not send either.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MOZILLA_INTERMEDIATE_CIPHERS } from '../plugins/tls-terminator/config-schema.ts';

const ROOT = resolve(import.meta.dirname, '..');
const TESTSSL = '/usr/bin/testssl';
const NGINX = '/usr/sbin/nginx';
const full = process.argv.includes('--full');
const dir = mkdtempSync(join(tmpdir(), 'testssl-compare-'));
const children: ChildProcess[] = [];

interface Finding {
  id: string;
  severity: string;
  finding: string;
}
/** testssl's severities that mean a problem (the others are OK, INFO and DEBUG). */
const PROBLEM = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL', 'WARN', 'FATAL'];

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

/** One testssl run; its JSON findings and the text it printed. Asynchronous: the app runs in this process. */
async function testssl(name: string, port: number): Promise<{ findings: Finding[]; text: string; seconds: number }> {
  const json = join(dir, `${name}.json`);
  const args = ['--quiet', '--color', '0', '--warnings', 'batch', '--openssl-timeout', '10', '--assume-http', ...(full ? [] : ['--fast']), '--jsonfile', json, `127.0.0.1:${port}`];
  console.error(`testssl ${args.join(' ')}  (${name})`);
  const t0 = performance.now();
  const child = spawn(TESTSSL, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  const kill = setTimeout(() => child.kill('SIGTERM'), 20 * 60 * 1000);
  await new Promise((r) => child.once('close', r));
  clearTimeout(kill);
  const seconds = (performance.now() - t0) / 1000;
  writeFileSync(join(dir, `${name}.txt`), text);
  const findings = (JSON.parse(readFileSync(json, 'utf8')) as Finding[]).map(({ id, severity, finding }) => ({ id, severity, finding }));
  return { findings, text, seconds };
}

function summary(name: string, run: { findings: Finding[]; seconds: number }): string {
  const counts = new Map<string, number>();
  for (const f of run.findings) counts.set(f.severity, (counts.get(f.severity) ?? 0) + 1);
  const lines = [`${name} (${run.seconds.toFixed(0)} s): ${[...counts].map(([s, n]) => `${s} ${n}`).join(', ')}`];
  for (const f of run.findings.filter((x) => PROBLEM.includes(x.severity))) lines.push(`  ${f.severity.padEnd(8)} ${f.id}: ${f.finding}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  for (const need of [TESTSSL, NGINX]) {
    if (spawnSync('sh', ['-c', `test -x ${need}`]).status !== 0) {
      console.log(`testssl comparison skipped: ${need} is missing (apt-get install testssl.sh nginx)`);
      return;
    }
  }
  const cert = join(dir, 'rsa.crt');
  const key = join(dir, 'rsa.key');
  const dh = join(dir, 'ffdhe2048.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', dh], { stdio: 'ignore' });

  const app = http.createServer((_req, res) => res.end('hello\n'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;

  const nginxPort = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:${nginxPort} ssl http2;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ssl_session_timeout 1d;
    ssl_session_cache shared:MozSSL:10m;
    ssl_session_tickets off;
    ssl_dhparam ${dh};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_ciphers ${MOZILLA_INTERMEDIATE_CIPHERS};
    ssl_prefer_server_ciphers off;
    location / { proxy_pass http://127.0.0.1:${appPort}; }
  }
}
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
    accessLog: false
`);

  const nginx = start('nginx', NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  await waitPort(nginxPort, nginx);
  const ngx = await testssl('nginx', nginxPort);
  await stop(nginx);

  const agent = start('sidekick', process.execPath, [join(ROOT, 'bin/sidekick.js'), 'run', '--config', join(dir, 'sidekick.yaml')]);
  await waitPort(sidekickPort, agent);
  const sk = await testssl('sidekick', sidekickPort);
  await stop(agent);
  app.close();

  console.log(`testssl ${readFileSync(TESTSSL, 'utf8').match(/VERSION="([^"]+)"/)?.[1] ?? ''}, ${new Date().toISOString()}, ${full ? 'full' : '--fast'}\n`);
  console.log(summary('nginx 1.22, Mozilla intermediate', ngx));
  console.log();
  console.log(summary('Sidekick tls-terminator, defaults', sk));
  // A finding counts against Sidekick when nginx has no finding of that id at that severity.
  const ngxSeen = new Set(ngx.findings.map((f) => `${f.id}\0${f.severity}`));
  const worse = sk.findings.filter((f) => PROBLEM.includes(f.severity) && !ngxSeen.has(`${f.id}\0${f.severity}`));
  const otherwise = sk.findings.filter((f) => !PROBLEM.includes(f.severity) && ngx.findings.some((n) => n.id === f.id && n.finding !== f.finding));
  console.log(`\nSidekick findings nginx does not have: ${worse.length === 0 ? 'none' : ''}`);
  for (const f of worse) console.log(`  ${f.severity.padEnd(8)} ${f.id}: ${f.finding}  (nginx: ${ngx.findings.find((n) => n.id === f.id)?.finding ?? 'not reported'})`);
  console.log(`\nOther differences (informational, same id, different text): ${otherwise.length}`);
  for (const f of otherwise) console.log(`  ${f.id}: Sidekick "${f.finding}" / nginx "${ngx.findings.find((n) => n.id === f.id)?.finding}"`);
  console.log(`\nRaw output: ${dir}/{nginx,sidekick}.{txt,json} (kept when KEEP=1)`);
  process.exitCode = worse.length > 0 ? 1 : 0;
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
}
