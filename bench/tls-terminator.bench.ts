// TLS termination in front of a local HTTP app (method: shared/reference/measured.md).
// Backend: nginx (1 worker) returning a 257-byte body. Each front terminates TLS (self-signed
// ECDSA P-256) and proxies to it. Front on CPU 0; backend and wrk on CPU 1.
// Load: wrk -t1 -c32 -d6s --latency over HTTPS keep-alive; "new conn/s" is the same with
// `Connection: close` (a full handshake per request). Peers missing from the machine are skipped.
// Each front gets a warm-up run before each measured run, keep-alive and `Connection: close` alike
// (since 2026-11-25; before, new conn/s came right after keep-alive, while a JIT front was still
// compiling its handshake path: 10-25% more CPU per connection than a second window, with the
// compilers on from the start too). nginx, HAProxy and stunnel are unaffected by it.
// Run: node_modules/.bin/node bench/tls-terminator.bench.ts   (BENCH_SECONDS=6 by default)
// Certificates and configs live in their own directory, apart from the peers' log files: both
// the plugin and the agent watch the directory of what they load, and a log written next to
// them (no deployment does that) made every access-log flush an inotify event for both.
// The agent is what the image runs (bench/image-agent.ts: compiled, with the Dockerfile's ENV and
// node flags); --sources runs the checkout's .ts sources instead. BENCH_NODE_FLAGS (e.g.
// "--max-semi-space-size=2") adds node flags after the image's, for trying them.
// The steady 1,000 req/s run is made twice on the same Sidekick: first as the method says (a
// fresh agent: JIT warm-up included), then again once warm, to show the steady-state cost.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/free-port.ts';
import { imageAgent, sourceAgent } from './image-agent.ts';
import { bin, cpuSeconds, has, launcher, nginxMain, rssMb, selfSignedCert, startNginxApp, stop, waitPort } from './peer-processes.ts';
import { parseWrk, type WrkRun } from './wrk-output.ts';

// Built on first use, so that the `--steady` load generator (a child of this same file) does not
// rebuild the image, on the load generator's core, before it starts.
const agent = () => (process.argv.includes('--sources') ? sourceAgent() : imageAgent());
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const dir = mkdtempSync(join(tmpdir(), 'sidekick-tls-bench-'));
const { start, children } = launcher(dir);

type Run = WrkRun;

const run = promisify(execFile);

async function wrk(port: number, close: boolean, seconds = SECONDS): Promise<Run> {
  const args = ['-c', '1', 'wrk', '-t1', '-c32', `-d${seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), `https://127.0.0.1:${port}/`];
  const { stdout: out } = await run('taskset', args, { encoding: 'utf8' });
  return parseWrk(out);
}

interface Row { name: string; ka: Run; nc: Run; rss: number; cpuPer1k: number }

/** Runs `body` while sampling the front's RSS every 250 ms: body's result and the peak, in MB. */
async function peakRss<T>(child: ChildProcess, body: () => Promise<T>): Promise<[T, number]> {
  let rss = 0;
  const sampler = setInterval(() => (rss = Math.max(rss, rssMb(child.pid!))), 250);
  try {
    const result = await body();
    return [result, Math.max(rss, rssMb(child.pid!))];
  } finally {
    clearInterval(sampler);
  }
}

/** One wrk run, with the front's CPU seconds over it and the share of its core they were. */
async function wrkCpu(child: ChildProcess, port: number, close: boolean): Promise<{ run: Run; cpu: number; busy: number }> {
  const cpu0 = cpuSeconds(child.pid!);
  const t0 = performance.now();
  const run = await wrk(port, close);
  const cpu = cpuSeconds(child.pid!) - cpu0;
  return { run, cpu, busy: cpu / ((performance.now() - t0) / 1000) };
}

async function measure(name: string, port: number, child: ChildProcess): Promise<Row> {
  await waitPort(port, child);
  await wrk(port, false); // warm-up (JIT, pools)
  const [{ ka, nc }, rss] = await peakRss(child, async () => {
    const ka = await wrkCpu(child, port, false);
    await wrk(port, true, 3); // warm-up of the handshake path, as the keep-alive run had its own
    return { ka, nc: await wrk(port, true) };
  });
  await stop(child);
  console.error(`  ${name}: ${Math.round(ka.run.rps)} req/s keep-alive, ${Math.round(nc.rps)} new conn/s`);
  return { name, ka: ka.run, nc, rss, cpuPer1k: (ka.cpu / ka.run.requests) * 1000 };
}

/**
 * New connections with resumption switched off on the front, so that every request really is a
 * full handshake, as the method's "new conn/s" column means it (see main() for why the method's
 * own nginx row is not that).
 */
async function measureFull(name: string, port: number, child: ChildProcess): Promise<FullRow> {
  await waitPort(port, child);
  await wrk(port, false); // warm-up, as measure() does (the image's agent turns its compilers on under load)
  await wrk(port, true, 3);
  const [{ run: nc, cpu, busy }, rss] = await peakRss(child, () => wrkCpu(child, port, true));
  await stop(child);
  console.error(`  ${name}: ${Math.round(nc.rps)} full handshakes/s, front ${(busy * 100).toFixed(0)} % busy`);
  return { name, nc, rss, cpuPer1k: (cpu / nc.requests) * 1000, busy };
}
/** cpuPer1k: the front's CPU seconds per 1,000 connections; busy: the share of its core it used. */
interface FullRow { name: string; nc: Run; rss: number; cpuPer1k: number; busy: number }

/** The steady generator's line that starts its measured phase. */
const MEASURING = 'measuring\n';

/** `--steady <url> <rps> <seconds>`: a fixed-rate keep-alive load generator (runs as a child on CPU 1). */
async function steady(url: string, rps: number, seconds: number): Promise<void> {
  const { default: http } = await import('node:http');
  const { default: https } = await import('node:https');
  const secure = url.startsWith('https:');
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
  const get = secure ? https.get : http.get;
  const latencies: number[] = [];
  let errors = 0;
  const one = () =>
    new Promise<void>((done) => {
      const t0 = performance.now();
      get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => (latencies.push(performance.now() - t0), done()));
      }).on('error', () => (errors++, done()));
    });
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < 200; i++) await one(); // warm-up: connections and JIT
  latencies.length = 0;
  process.stdout.write(MEASURING); // the parent starts the front's CPU clock here
  const start = performance.now();
  for (let sent = 0; sent < rps * seconds; ) {
    const due = Math.floor(((performance.now() - start) / 1000) * rps);
    while (sent < due) {
      pending.push(one());
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
  console.log(JSON.stringify({ p50: q(0.5), p99: q(0.99), n: latencies.length, errors }));
}

/**
 * One steady run in a child on CPU 1; the front's CPU share is taken over the child's measured
 * phase only (after its start-up and warm-up requests), which it announces with a line.
 */
function steadyRun(url: string, front?: ChildProcess): Promise<{ p50: number; p99: number; cpuPct?: number }> {
  const child = spawn('taskset', ['-c', '1', process.execPath, import.meta.filename, '--steady', url, '1000', String(SECONDS + 2)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let cpu0 = 0;
  let t0 = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (!t0 && out.includes(MEASURING)) [cpu0, t0] = [front ? cpuSeconds(front.pid!) : 0, performance.now()];
  });
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      if (code !== 0 || !t0) return reject(new Error(`steady load generator failed (exit ${code}): ${out}`));
      const cpuPct = front ? ((cpuSeconds(front.pid!) - cpu0) / ((performance.now() - t0) / 1000)) * 100 : undefined;
      const r = JSON.parse(out.slice(out.indexOf(MEASURING) + MEASURING.length)) as { p50: number; p99: number };
      resolve({ ...r, ...(cpuPct !== undefined ? { cpuPct } : {}) });
    });
  });
}

async function main(): Promise<void> {
  if (!has('wrk') || !has('taskset') || !bin('nginx') || !has('openssl')) {
    console.log('tls-terminator bench skipped: needs wrk, taskset, nginx (backend) and openssl (apt-get install wrk nginx openssl)');
    return;
  }
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const { cert, key } = selfSignedCert(etc);
  writeFileSync(join(dir, 'both.pem'), readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  const nginx = bin('nginx')!;
  const backendPort = await freePort();
  const backend = await startNginxApp(dir, start, '1', backendPort);

  const rows: Row[] = [];
  const port1 = await freePort();
  writeFileSync(join(dir, 'front.conf'), `${nginxMain(dir, 'front')} http { access_log off;
    upstream app { server 127.0.0.1:${backendPort}; keepalive 64; }
    server { listen 127.0.0.1:${port1} ssl; ssl_certificate ${cert}; ssl_certificate_key ${key}; keepalive_requests 100000;
      location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`);
  rows.push(await measure('nginx 1 worker (proxy_pass, upstream keepalive)', port1, start('0', nginx, ['-c', join(dir, 'front.conf'), '-p', dir])));
  // An extra row, not part of the method (ratios stay against the row above): Debian's nginx 1.22
  // defaults to ssl_protocols TLSv1 TLSv1.1 TLSv1.2, so the method's nginx answers wrk with TLS 1.2,
  // whose ticket resumption needs no key exchange at all, while Sidekick (Node/OpenSSL defaults)
  // negotiates TLS 1.3: a resumed 1.3 handshake still runs X25519, and wrk's OpenSSL uses each 1.3
  // ticket once, so every other connection is a full handshake. This row is nginx doing what
  // Sidekick does, for the like-for-like new-connection ratio printed under the table.
  const port13 = await freePort();
  writeFileSync(join(dir, 'front13.conf'), readFileSync(join(dir, 'front.conf'), 'utf8').replace(`${port1} ssl;`, `${port13} ssl; ssl_protocols TLSv1.2 TLSv1.3;`).replace(/front\.(pid|err)/g, 'front13.$1'));
  const nginx13 = await measure('nginx 1 worker, ssl_protocols TLSv1.2 TLSv1.3 (extra row)', port13, start('0', nginx, ['-c', join(dir, 'front13.conf'), '-p', dir]));
  rows.push(nginx13);

  if (bin('haproxy')) {
    const port = await freePort();
    writeFileSync(join(dir, 'haproxy.cfg'), `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  http-reuse always\nfrontend f\n  bind 127.0.0.1:${port} ssl crt ${dir}/both.pem alpn h2,http/1.1\n  default_backend b\nbackend b\n  server s1 127.0.0.1:${backendPort}\n`);
    rows.push(await measure('HAProxy (nbthread 1, http-reuse always)', port, start('0', bin('haproxy')!, ['-f', join(dir, 'haproxy.cfg')])));
  } else console.log('HAProxy not installed: skipped');

  const stunnel = bin('stunnel4') ?? bin('stunnel');
  if (stunnel) {
    const port = await freePort();
    writeFileSync(join(dir, 'stunnel.conf'), `foreground = yes\npid =\n[https]\naccept = 127.0.0.1:${port}\nconnect = 127.0.0.1:${backendPort}\ncert = ${cert}\nkey = ${key}\ndebug = 3\n`);
    rows.push(await measure('stunnel (TLS to TCP)', port, start('0', stunnel, [join(dir, 'stunnel.conf')])));
  } else console.log('stunnel not installed: skipped');

  const sidekick = async (mode: 'http' | 'tcp', accessLog: boolean, tls = '') => {
    const port = await freePort();
    const file = join(etc, `sidekick-${port}.yaml`);
    writeFileSync(file, `admin: { listen: 127.0.0.1:0 }\ndataDir: ${dir}/data-${port}\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:${port}\n    mode: ${mode}\n    upstream: ${mode === 'http' ? 'http' : 'tcp'}://127.0.0.1:${backendPort}\n    accessLog: ${accessLog}\n    tls: { cert: ${cert}, key: ${key}${tls ? `, ${tls}` : ''} }\n`);
    return { port, child: start('0', process.execPath, [...agent().args, 'run', '--config', file], agent().env) };
  };
  for (const [name, mode, log] of [
    ['Sidekick tls-terminator, http mode, access log on (default)', 'http', true],
    ['Sidekick tls-terminator, http mode, accessLog: false', 'http', false],
    ['Sidekick tls-terminator, tcp mode, accessLog: false', 'tcp', false],
  ] as const) {
    const { port, child } = await sidekick(mode, log);
    rows.push(await measure(name, port, child));
  }
  // Extra row, the mirror of nginx13: Sidekick speaking the method's nginx's protocol, TLS 1.2.
  const sk12 = await sidekick('http', true, 'maxVersion: TLSv1.2');
  const sidekick12 = await measure('Sidekick http mode, access log on, tls.maxVersion: TLSv1.2 (extra row)', sk12.port, sk12.child);
  rows.push(sidekick12);

  // Full handshakes. The method's nginx (Debian's 1.22: TLS 1.0-1.2 by default) resumes wrk's
  // sessions with TLS 1.2 tickets, which skip the key exchange and the certificate signature, so
  // its "new conn/s" is mostly resumptions; Sidekick and the rest negotiate TLS 1.3, where wrk's
  // OpenSSL resumes every other connection and a resumption still runs X25519. Here every front
  // has resumption off, so each connection is the full handshake the method's column names.
  const full: FullRow[] = [];
  const noResume = (conf: string, port: number, file: string, extra: string) =>
    writeFileSync(join(dir, file), readFileSync(join(dir, conf), 'utf8').replace(/listen 127\.0\.0\.1:\d+ ssl;/, `listen 127.0.0.1:${port} ssl; ssl_session_tickets off; ${extra}`).replace(/front(13)?\.(pid|err)/g, `${file}.$2`));
  const fullPort = await freePort();
  noResume('front.conf', fullPort, 'front-full.conf', '');
  full.push(await measureFull('nginx 1 worker, as the method, ssl_session_tickets off', fullPort, start('0', nginx, ['-c', join(dir, 'front-full.conf'), '-p', dir])));
  const full13Port = await freePort();
  noResume('front.conf', full13Port, 'front13-full.conf', 'ssl_protocols TLSv1.2 TLSv1.3;');
  full.push(await measureFull('nginx 1 worker, TLS 1.3, ssl_session_tickets off', full13Port, start('0', nginx, ['-c', join(dir, 'front13-full.conf'), '-p', dir])));
  if (bin('haproxy')) {
    const port = await freePort();
    writeFileSync(join(dir, 'haproxy-full.cfg'), readFileSync(join(dir, 'haproxy.cfg'), 'utf8').replace('global\n', 'global\n  tune.ssl.cachesize 0\n').replace(/bind 127\.0\.0\.1:\d+ (.*)\n/, `bind 127.0.0.1:${port} $1 no-tls-tickets\n`));
    full.push(await measureFull('HAProxy, no-tls-tickets, no session cache', port, start('0', bin('haproxy')!, ['-f', join(dir, 'haproxy-full.cfg')])));
  }
  if (stunnel) {
    const port = await freePort();
    writeFileSync(join(dir, 'stunnel-full.conf'), readFileSync(join(dir, 'stunnel.conf'), 'utf8').replace(/accept = .*\n/, `accept = 127.0.0.1:${port}\nsessionResume = no\noptions = NO_TICKET\n`));
    full.push(await measureFull('stunnel, sessionResume = no', port, start('0', stunnel, [join(dir, 'stunnel-full.conf')])));
  }
  for (const [name, mode] of [
    ['Sidekick http mode, access log on, sessionTickets: false', 'http'],
    ['Sidekick tcp mode, accessLog: false, sessionTickets: false', 'tcp'],
  ] as const) {
    const { port, child } = await sidekick(mode, mode === 'http', 'sessionTickets: false');
    full.push(await measureFull(name, port, child));
  }

  // Steady 1,000 req/s over keep-alive: the app directly vs through Sidekick (http mode, defaults).
  const direct = await steadyRun(`http://127.0.0.1:${backendPort}/`);
  const sk = await sidekick('http', true);
  await waitPort(sk.port, sk.child);
  const via = await steadyRun(`https://127.0.0.1:${sk.port}/`, sk.child);
  const viaWarm = await steadyRun(`https://127.0.0.1:${sk.port}/`, sk.child);
  await stop(sk.child);
  const nginxFront = start('0', nginx, ['-c', join(dir, 'front.conf'), '-p', dir]);
  await waitPort(port1, nginxFront);
  const viaNginx = await steadyRun(`https://127.0.0.1:${port1}/`, nginxFront);
  await stop(nginxFront);

  const ref = rows[0]!;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  console.log(`\nTLS termination, ${SECONDS}s per run, wrk -t1 -c32, front on 1 core (${new Date().toISOString()}); Sidekick: ${agent().label}`);
  console.log('| front | keep-alive req/s | p50 | p99 | new conn/s | RSS under load | CPU per 1k req | errors |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const vs = r === ref ? '' : ` (${ratio(r.ka.rps, ref.ka.rps)})`;
    const ncVs = r === ref ? '' : ` (${ratio(r.nc.rps, ref.nc.rps)})`;
    console.log(`| ${r.name} | ${Math.round(r.ka.rps)}${vs} | ${r.ka.p50.toFixed(2)} ms | ${r.ka.p99.toFixed(2)} ms (${ratio(r.ka.p99, ref.ka.p99)}) | ${Math.round(r.nc.rps)}${ncVs} | ${r.rss.toFixed(0)} MB | ${(r.cpuPer1k * 1000).toFixed(0)} ms | ${r.ka.errors + r.nc.errors} |`);
  }
  console.log('\nCPU per 1k req: CPU time of the front per 1,000 keep-alive requests under full load, where one wake-up serves many; a steady 1,000 req/s costs more per request (the steady table below).');
  for (const r of rows.filter((x) => x.name.startsWith('Sidekick') && x.name.includes('http mode') && x !== sidekick12)) {
    console.log(`New conn/s against nginx with TLS 1.3 (both negotiate TLSv1.3): ${r.name}: ${ratio(r.nc.rps, nginx13.nc.rps)}`);
  }
  console.log(`New conn/s with the method's protocol (both negotiate TLSv1.2): ${sidekick12.name}: ${ratio(sidekick12.nc.rps, ref.nc.rps)}`);
  // With no resumption the client's half of each handshake (X25519, verifying the ECDSA
  // signature, on the core it shares with the backend) is the bottleneck: every front reaches
  // about the same rate without filling its core. What a front could sustain on its core is
  // 1 / (its CPU per connection), so the capacity ratio compares CPU per connection.
  console.log(`\nFull handshake per request: the same new-connection run with session resumption off on every front; the client's core is the limit here, so the capacity ratio is the first row's CPU per connection over the front's:`);
  console.log('| front | full handshakes/s | front busy | front CPU per 1k conns | capacity vs first row | p99 | RSS under load | errors |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const f0 = full[0]!;
  for (const r of full) {
    const cap = r === f0 ? '1.00x' : ratio(f0.cpuPer1k, r.cpuPer1k);
    console.log(`| ${r.name} | ${Math.round(r.nc.rps)} | ${(r.busy * 100).toFixed(0)} % | ${(r.cpuPer1k * 1000).toFixed(0)} ms | ${cap} | ${r.nc.p99.toFixed(2)} ms | ${r.rss.toFixed(0)} MB | ${r.nc.errors} |`);
  }
  console.log(`\nSteady 1,000 req/s (node keep-alive client, 16 connections, ${SECONDS + 2}s):`);
  console.log('| path | p50 | p99 | front CPU |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| app directly (plain HTTP) | ${direct.p50.toFixed(2)} ms | ${direct.p99.toFixed(2)} ms | - |`);
  // A p99 below the direct path's is the load generator's jitter on its shared core, shown as such.
  const overDirect = (p99: number) => `${p99 >= direct.p99 ? '+' : '-'}${Math.abs(p99 - direct.p99).toFixed(2)} ms`;
  console.log(`| through nginx (as above) | ${viaNginx.p50.toFixed(2)} ms | ${viaNginx.p99.toFixed(2)} ms (${overDirect(viaNginx.p99)}) | ${viaNginx.cpuPct!.toFixed(1)} % of one core |`);
  console.log(`| through Sidekick http mode (defaults), fresh agent | ${via.p50.toFixed(2)} ms | ${via.p99.toFixed(2)} ms (${overDirect(via.p99)}) | ${via.cpuPct!.toFixed(1)} % of one core |`);
  console.log(`| same agent again, warm | ${viaWarm.p50.toFixed(2)} ms | ${viaWarm.p99.toFixed(2)} ms (${overDirect(viaWarm.p99)}) | ${viaWarm.cpuPct!.toFixed(1)} % of one core |`);
}

if (process.argv[2] === '--steady') {
  rmSync(dir, { recursive: true, force: true });
  await steady(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
  process.exit(0);
}
try {
  await main();
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
