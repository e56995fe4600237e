// Runs the corpus against nginx 1.22 (and, with --agent, against Sidekick too) and prints, per
// case, the expectation next to what each front did: the check that every expectation is "what
// nginx does, or stricter". Not part of `npm test` (it needs /usr/sbin/nginx).
//
//   node_modules/.bin/node test/plugins/tls-terminator/corpus/run-against-nginx.ts [--agent] [--only <id-substring>]
//
// nginx runs as a careful operator would set it: non-daemon, one worker, its own prefix and config
// in a temp dir, TLS (and HTTP/2) on loopback, proxy_pass to the same raw app with
// proxy_http_version 1.1 and upstream keepalive, Host and the forwarding/identity fields set or
// cleared by the proxy (what Sidekick does), header buffers as large as Sidekick's 16 KiB limit.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { type Case, type Expectation, type Observation, check, describe, runCase } from './corpus-case.ts';
import { corpus } from './corpus-cases.ts';
import { RawApp } from './harness.ts';

const BIN = resolve(import.meta.dirname, '../../../../bin/sidekick.js');
const args = process.argv.slice(2);
const withAgent = args.includes('--agent');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Resolves once a TLS handshake on `port` succeeds (the front is up), polling every 50 ms for 10 s. */
async function tlsReady(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers TLS on port ${port}`);
}

function nginxConfig(dir: string, port: number, appPort: number): string {
  const clear = ['X-Real-IP', 'X-Forwarded-Port', 'Client-Cert', 'Client-Cert-Chain', 'X-Client-Cert-Subject', 'X-Client-Cert-SAN', 'X-Forwarded-Client-Cert', 'X-JA3-Fingerprint', 'X-JA4-Fingerprint'];
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  large_client_header_buffers 4 16k;
  upstream app { server 127.0.0.1:${appPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header Forwarded "for=$remote_addr;proto=https;host=\\"$host\\"";
${clear.map((h) => `      proxy_set_header ${h} "";`).join('\n')}
      proxy_read_timeout 5s;
    }
  }
}
`;
}

interface Front {
  name: string;
  port: number;
  /** Restarts the front if it died; resolves when it serves. */
  ensureUp(): Promise<void>;
  stop(): void;
}

async function startNginx(dir: string, appPort: number): Promise<Front> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'pipe' });
  const port = await freePort();
  writeFileSync(`${dir}/nginx.conf`, nginxConfig(dir, port, appPort));
  let child: ChildProcess;
  const start = async () => {
    child = spawn('/usr/sbin/nginx', ['-p', dir, '-c', `${dir}/nginx.conf`], { stdio: ['ignore', 'inherit', 'inherit'] });
    await tlsReady(port);
  };
  await start();
  return { name: 'nginx', port, ensureUp: async () => void (child.exitCode !== null && (await start())), stop: () => child.kill('SIGTERM') };
}

async function startSidekick(dir: string, appPort: number): Promise<Front> {
  const port = await freePort();
  const file = join(dir, 'sidekick.yaml');
  writeFileSync(file, `admin: { listen: 127.0.0.1:0 }\ndataDir: ${dir}/data\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:${port}\n    upstream: http://127.0.0.1:${appPort}\n    timeouts: { upstream: 5s }\n`);
  let child: ChildProcess;
  const start = async () => {
    child = spawn(process.execPath, [BIN, 'run', '--config', file], { stdio: 'ignore' });
    await tlsReady(port);
  };
  await start();
  return {
    name: 'sidekick',
    port,
    ensureUp: async () => void ((child.exitCode !== null || child.signalCode !== null) && (await start())),
    stop: () => child.kill('SIGTERM'),
  };
}

function showExpect(c: Case): string {
  const one = (e: Expectation) => `${e.responses.map((r) => r.join('/')).join(',')} app=${typeof e.app === 'number' ? e.app : e.app.join('-')}`;
  return (Array.isArray(c.expect) ? c.expect : [c.expect]).map(one).join(' | ');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'corpus-nginx-'));
  const app = new RawApp();
  await app.listen();
  const fronts = [await startNginx(dir, app.port)];
  if (withAgent) fronts.push(await startSidekick(dir, app.port));
  const cases = corpus.filter((c) => !only || c.id.includes(only));
  const failed: Record<string, string[]> = Object.fromEntries(fronts.map((f) => [f.name, []]));
  try {
    for (const c of cases) {
      console.log(`\n${c.id} [${c.class}; ${c.rfc}]\n  expected: ${showExpect(c)}`);
      for (const front of fronts) {
        await front.ensureUp();
        const obs: Observation = await runCase(front.port, app, c);
        const problems = check(c, obs);
        if (problems.length) failed[front.name]!.push(c.id);
        console.log(`  ${front.name.padEnd(8)}: ${problems.length ? 'DIFFERS' : 'meets  '} ${describe(obs)}${problems.length ? `\n            ${problems.join('\n            ')}` : ''}`);
      }
    }
  } finally {
    for (const f of fronts) f.stop();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${cases.length} cases`);
  for (const [name, ids] of Object.entries(failed)) console.log(`${name}: ${cases.length - ids.length} meet the expectation, ${ids.length} differ: ${ids.join(' ')}`);
}

await main();
