// Memory per idle TLS connection at 10,000 connections, Sidekick beside nginx in the same run (issue 14).
// Backend: nginx (1 worker) returning a 257-byte body, as in tls-terminator.bench.ts. Fronts, each
// proxying to it with the same self-signed ECDSA P-256 certificate, on CPU 0: nginx 1.22 (1 worker,
// proxy_pass with upstream keepalive, ssl_protocols TLSv1.2 TLSv1.3 so that both fronts negotiate
// TLS 1.3) and Sidekick in http mode as the image runs it (bench/image-agent.ts), defaults otherwise.
// Clients on CPU 1: CLIENTS child processes of this file open N connections between them (full
// handshakes, 32 in flight per process), then hold them. Scenarios: "idle" (handshake done, no
// request) and "request" (one GET sent, the response never read; the 257-byte response fits in the
// socket buffers, so to the front this is a kept-alive connection after one request).
// Timeouts are raised on both fronts so that no connection is closed while held: nginx
// client_header_timeout and keepalive_timeout 600s; Sidekick timeouts.headers/request/idle 10m.
// Both have N + 1024 connection slots (nginx worker_connections, Sidekick limits.maxConnections,
// whose default of 10,000 would refuse the normal client). nginx allocates its slots at start
// (~0.4 KiB each: a worker's RSS is 4.2 MB with 1,024, 8.3 MB with 11,024), so they are in its idle RSS.
// Per front: RSS idle (after 20 warm-up requests, master + worker for nginx), peak RSS while the
// N connections open and are held (VmRSS sampled every 100 ms), (peak - idle) / N, the connections
// established at the front's port (ss), and a normal client's requests meanwhile (a new connection
// each: served or not, median latency). Rounds alternate which front goes first.
// Each round also measures the floor under Sidekick, not a peer: Node's own TLS server (the image's
// node flags) answering a fixed 200 itself. A last run shows Sidekick with its default limits
// under the same N idle connections: whether a normal client is served while they open and after.
// File descriptors: every front and client is started under `prlimit --nofile=H:H`, H the hard limit.
// Run: node_modules/.bin/node bench/tls-idle-connections.bench.ts   (BENCH_IDLE_CONNECTIONS=10000,
// BENCH_ROUNDS=3; --sources runs the checkout's .ts sources instead of the image build)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { freePort } from '../test/helpers/free-port.ts';
import { imageAgent, sourceAgent } from './image-agent.ts';
import { bin, has, launcher, rssMb, selfSignedCert, stop, waitPort } from './peer-processes.ts';

const N = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = 4;
const IN_FLIGHT = 32;
const HOLD_MS = 5000;
const PROBES = 5;
/** Connection slots on both fronts: N, the normal client's and nginx's app connections, with room to spare. */
const SLOTS = N + 1024;

type Scenario = 'idle' | 'request';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `--hold <port> <count> <scenario>`: opens and holds connections; one JSON line when all have settled. */
async function hold(port: number, count: number, scenario: Scenario): Promise<void> {
  let opened = 0;
  let failed = 0;
  const t0 = performance.now();
  const one = () =>
    new Promise<void>((done) => {
      const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      let secure = false;
      s.on('error', () => {});
      s.setTimeout(20_000, () => s.destroy()); // a handshake that never finishes counts as failed
      s.once('secureConnect', () => {
        secure = true;
        s.setTimeout(0);
        opened++;
        // No 'data' listener, ever: the response is never read.
        if (scenario === 'request') s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
        done();
      });
      s.once('close', () => void (secure || (failed++, done())));
    });
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) (next++, await one());
    }),
  );
  process.stdout.write(`${JSON.stringify({ opened, failed, seconds: (performance.now() - t0) / 1000 })}\n`);
  // The parent ends the hold by closing stdin; exiting closes every socket at once.
  process.stdin.resume().on('end', () => process.exit(0));
}

interface Fronts {
  dir: string;
  hardLimit: number;
  wrap: string[];
  backendPort: number;
  cert: string;
  key: string;
  start: ReturnType<typeof launcher>['start'];
  children: ChildProcess[];
}

interface Result {
  front: 'nginx' | 'Sidekick' | 'bare Node';
  scenario: Scenario;
  round: number;
  idleMb: number;
  peakMb: number;
  heldMb: number;
  opened: number;
  failed: number;
  established: number;
  openSeconds: number;
  probeIdle: Probes;
  probeHeld: Probes;
}
interface Probes { served: number; medianMs?: number }

const agent = () => (process.argv.includes('--sources') ? sourceAgent() : imageAgent());

/** One request on a new connection, as a normal client makes it: its latency, or undefined if not served in 5 s. */
function probe(port: number): Promise<number | undefined> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

async function probes(port: number, n: number): Promise<Probes> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = await probe(port);
    if (t !== undefined) ms.push(t);
  }
  ms.sort((a, b) => a - b);
  return { served: ms.length, ...(ms.length ? { medianMs: ms[Math.floor(ms.length / 2)]! } : {}) };
}

/** Client connections established at the front's port, counted by the kernel. */
function established(port: number): number {
  const out = spawnSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  return out.split('\n').filter(Boolean).length;
}

interface Opened { opened: number; failed: number; seconds: number }

/**
 * CLIENTS child processes on CPU 1 opening `n` connections between them; resolves once all have
 * settled. `seconds`: the slowest client's, from its first connection (its start-up left out).
 */
async function openConnections(f: Fronts, port: number, n: number, scenario: Scenario): Promise<Opened & { holders: ChildProcess[] }> {
  const holders: ChildProcess[] = [];
  const reports: Array<Promise<Opened>> = [];
  for (let i = 0; i < CLIENTS; i++) {
    const count = Math.floor(n / CLIENTS) + (i < n % CLIENTS ? 1 : 0);
    const child = spawn('taskset', ['-c', '1', ...f.wrap, process.execPath, import.meta.filename, '--hold', String(port), String(count), scenario], { stdio: ['pipe', 'pipe', 'inherit'] });
    f.children.push(child);
    holders.push(child);
    reports.push(
      new Promise((resolve, reject) => {
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out));
        });
        child.on('exit', (code) => reject(new Error(`connection holder exited with ${code} before reporting`)));
      }),
    );
  }
  const all = await Promise.all(reports);
  return { holders, opened: all.reduce((a, r) => a + r.opened, 0), failed: all.reduce((a, r) => a + r.failed, 0), seconds: Math.max(...all.map((r) => r.seconds)) };
}

async function release(holders: ChildProcess[]): Promise<void> {
  await Promise.all(holders.map((h) => (h.exitCode !== null ? undefined : new Promise((r) => (h.once('exit', r), h.stdin!.end())))));
}

function startNginx(f: Fronts, port: number, name: string): ChildProcess {
  const conf = join(f.dir, `${name}.conf`);
  writeFileSync(conf, `worker_processes 1; worker_rlimit_nofile ${f.hardLimit}; daemon off; pid ${f.dir}/${name}.pid; error_log ${f.dir}/${name}.err;
    events { worker_connections ${SLOTS}; }
    http { access_log off; client_header_timeout 600s; keepalive_timeout 600s; keepalive_requests 100000;
      upstream app { server 127.0.0.1:${f.backendPort}; keepalive 64; }
      server { listen 127.0.0.1:${port} ssl; ssl_certificate ${f.cert}; ssl_certificate_key ${f.key}; ssl_protocols TLSv1.2 TLSv1.3;
        location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`);
  return f.start('0', bin('nginx')!, ['-c', conf, '-p', f.dir], process.env, f.wrap);
}

/** Sidekick in http mode; `raised` adds the timeouts and connection limit of the memory runs, else all defaults. */
function startSidekick(f: Fronts, port: number, raised: boolean): ChildProcess {
  const file = join(f.dir, 'etc', `sidekick-${port}.yaml`);
  const limits = raised ? `    timeouts: { headers: 10m, request: 10m, idle: 10m }\n    limits: { maxConnections: ${SLOTS} }\n` : '';
  writeFileSync(file, `admin: { listen: 127.0.0.1:0 }\ndataDir: ${f.dir}/data-${port}\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:${port}\n    mode: http\n    upstream: http://127.0.0.1:${f.backendPort}\n    tls: { cert: ${f.cert}, key: ${f.key} }\n${limits}`);
  return f.start('0', process.execPath, [...agent().args, 'run', '--config', file], agent().env, f.wrap);
}

/**
 * The floor under Sidekick, not a peer: Node's own TLS server with the image's node flags and
 * environment, answering every read with a fixed 200 itself (no HTTP parsing, no app).
 */
function startBareNode(f: Fronts, port: number): ChildProcess {
  const file = join(f.dir, `bare-${port}.mjs`);
  writeFileSync(file, `import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';
const ok = 'HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\n\\r\\n';
createServer({ cert: readFileSync(${JSON.stringify(f.cert)}), key: readFileSync(${JSON.stringify(f.key)}) }, (s) => {
  s.on('error', () => {});
  s.on('data', () => s.write(ok));
}).listen(${port}, '127.0.0.1');
`);
  return f.start('0', process.execPath, [...agent().args.slice(0, -1), file], agent().env, f.wrap);
}

async function measure(f: Fronts, front: Result['front'], scenario: Scenario, round: number): Promise<Result> {
  const port = await freePort();
  const child = front === 'nginx' ? startNginx(f, port, `front-${round}-${scenario}`) : front === 'Sidekick' ? startSidekick(f, port, true) : startBareNode(f, port);
  await waitPort(port, child);
  await probes(port, 20); // warm-up: the TLS and HTTP paths, the app connection pool
  const probeIdle = await probes(port, PROBES);
  await sleep(1000);
  const idleMb = rssMb(child.pid!);
  let peakMb = idleMb;
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, rssMb(child.pid!))), 100);
  const { holders, opened, failed, seconds: openSeconds } = await openConnections(f, port, N, scenario);
  const held = performance.now();
  const probeHeld = await probes(port, PROBES);
  const est = established(port);
  await sleep(Math.max(0, HOLD_MS - (performance.now() - held)));
  clearInterval(sampler);
  const heldMb = rssMb(child.pid!);
  peakMb = Math.max(peakMb, heldMb);
  await release(holders);
  await stop(child);
  const r: Result = { front, scenario, round, idleMb, peakMb, heldMb, opened, failed, established: est, openSeconds, probeIdle, probeHeld };
  console.error(`  round ${round} ${front} ${scenario}: ${opened} open (${failed} failed) in ${openSeconds.toFixed(1)} s, RSS ${idleMb.toFixed(1)} -> ${peakMb.toFixed(1)} MB, ${perConnKiB(r).toFixed(1)} KiB/conn, normal client ${probeHeld.served}/${PROBES}`);
  return r;
}

const perConnKiB = (r: Result) => ((r.peakMb - r.idleMb) * 1024) / N;
const ms = (p: Probes) => (p.medianMs === undefined ? '-' : `${p.medianMs.toFixed(1)} ms`);

interface Sample { t: number; opened: boolean; established: number; sockets: number; probe: Probes }

/**
 * Sidekick with no limits or timeouts set, under the same N idle connections: every 3 s while they
 * open and for 15 s after, the connections established, the client sockets the agent still holds
 * (its open file descriptors over those before), and whether a normal client is served.
 */
async function defaults(f: Fronts): Promise<{ samples: Sample[]; opening: Opened }> {
  const port = await freePort();
  const child = startSidekick(f, port, false);
  await waitPort(port, child);
  await probes(port, 20);
  const fds = () => readdirSync(`/proc/${child.pid}/fd`).length;
  const before = fds();
  const t0 = performance.now();
  let opening: (Opened & { holders: ChildProcess[] }) | undefined;
  const done = openConnections(f, port, N, 'idle').then((r) => (opening = r));
  let openedAt: number | undefined;
  const samples: Sample[] = [];
  while (openedAt === undefined || performance.now() - openedAt < 15_000) {
    await Promise.race([sleep(3000), openedAt === undefined ? done : new Promise(() => {})]);
    if (opening && openedAt === undefined) openedAt = performance.now();
    samples.push({ t: (performance.now() - t0) / 1000, opened: !!opening, established: established(port), sockets: fds() - before, probe: await probes(port, 1) });
  }
  await release(opening!.holders);
  await stop(child);
  console.error(`  defaults: ${opening!.opened} opened, ${opening!.failed} failed in ${opening!.seconds.toFixed(1)} s`);
  return { samples, opening: opening! };
}

function range(xs: number[], digits: number): string {
  const lo = Math.min(...xs).toFixed(digits);
  const hi = Math.max(...xs).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
}

async function bench(): Promise<void> {
  if (!has('taskset') || !has('prlimit') || !has('ss') || !bin('nginx') || !has('openssl')) {
    console.log('tls-idle-connections bench skipped: needs taskset, prlimit, ss, nginx and openssl');
    return;
  }
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  const hardLimit = hard === 'unlimited' ? N * 2 + 4096 : Number(hard);
  // The front holds N client sockets plus its app connections, listeners and files.
  if (hardLimit < N + 1024) {
    console.log(`tls-idle-connections bench skipped: the hard limit on open files (ulimit -Hn) is ${hard}, below ${N + 1024}; lower BENCH_IDLE_CONNECTIONS or raise it`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sidekick-idle-bench-'));
  const { start, children } = launcher(dir);
  try {
    mkdirSync(join(dir, 'etc'));
    const { cert, key } = selfSignedCert(join(dir, 'etc'));
    const backendPort = await freePort();
    writeFileSync(join(dir, 'backend.conf'), `worker_processes 1; daemon off; pid ${dir}/backend.pid; error_log ${dir}/backend.err; events { worker_connections 4096; }
      http { access_log off; keepalive_requests 100000; server { listen 127.0.0.1:${backendPort}; location / { return 200 '${'x'.repeat(256)}\n'; } } }`);
    const backend = start('1', bin('nginx')!, ['-c', join(dir, 'backend.conf'), '-p', dir]);
    await waitPort(backendPort, backend);
    const f: Fronts = { dir, hardLimit, wrap: ['prlimit', `--nofile=${hardLimit}:${hardLimit}`], backendPort, cert, key, start, children };
    agent(); // build the image before anything is measured

    const results: Result[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const scenario of ['idle', 'request'] as const) {
        const order = round % 2 ? (['nginx', 'Sidekick'] as const) : (['Sidekick', 'nginx'] as const);
        for (const front of [...order, 'bare Node'] as const) results.push(await measure(f, front, scenario, round));
      }
    }
    const timeline = await defaults(f);

    console.log(`\nIdle TLS connections: N = ${N}, ${ROUNDS} rounds, front on 1 core, ${CLIENTS} client processes on the other (${new Date().toISOString()}); Sidekick: ${agent().label}`);
    console.log(`Open files: fronts and clients under prlimit --nofile=${hardLimit}:${hardLimit} (ulimit -Hn); nginx worker_rlimit_nofile ${hardLimit}, worker_connections ${SLOTS}.`);
    console.log('Timeouts raised on both: nginx client_header_timeout/keepalive_timeout 600s; Sidekick timeouts.headers/request/idle 10m, limits.maxConnections ' + SLOTS + '.');
    if (results.length) {
      console.log('\n| scenario | round | front | RSS idle | RSS peak, N open | KiB per connection | RSS after 5 s held | open (ss) | failed | time to open | normal client served | its latency idle / N open |');
      console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const r of results) {
        console.log(`| ${r.scenario} | ${r.round} | ${r.front} | ${r.idleMb.toFixed(1)} MB | ${r.peakMb.toFixed(1)} MB | ${perConnKiB(r).toFixed(1)} | ${r.heldMb.toFixed(1)} MB | ${r.established} | ${r.failed} | ${r.openSeconds.toFixed(1)} s | ${r.probeHeld.served}/${PROBES} | ${ms(r.probeIdle)} / ${ms(r.probeHeld)} |`);
      }
      console.log('\nSummary over the rounds (min-max); ratio = Sidekick / nginx of the same round and scenario:');
      console.log('| scenario | figure | nginx | Sidekick | ratio | bare Node TLS server (floor) |');
      console.log('| --- | --- | --- | --- | --- | --- |');
      const figures: Array<[string, (r: Result) => number, number]> = [
        ['RSS idle (MB)', (r) => r.idleMb, 1],
        ['RSS peak with N open (MB)', (r) => r.peakMb, 1],
        ['KiB per connection', perConnKiB, 1],
        ['time to open N (s)', (r) => r.openSeconds, 1],
        ['normal client latency with N open (ms)', (r) => r.probeHeld.medianMs ?? NaN, 1],
      ];
      for (const scenario of ['idle', 'request'] as const) {
        const of = (front: Result['front']) => results.filter((r) => r.scenario === scenario && r.front === front);
        for (const [label, fig, digits] of figures) {
          const ratios = of('Sidekick').map((s) => fig(s) / fig(of('nginx').find((n) => n.round === s.round)!));
          console.log(`| ${scenario} | ${label} | ${range(of('nginx').map(fig), digits)} | ${range(of('Sidekick').map(fig), digits)} | ${range(ratios, 2)}x | ${range(of('bare Node').map(fig), digits)} |`);
        }
      }
      console.log('nginx allocates its worker_connections slots at start (~0.4 KiB each): they are in its idle RSS, not in its KiB per connection.');
    }
    const { samples, opening } = timeline;
    console.log(`\nSidekick with its default limits (limits.maxConnections 10,000, timeouts.headers 10s): ${N} idle connections, opened in ${opening.seconds.toFixed(1)} s (${opening.failed} failed) by clients started at t = 0:`);
    console.log('| t | all opened | connections established | client sockets the agent holds | normal client |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const p of samples) console.log(`| ${p.t.toFixed(1)} s | ${p.opened ? 'yes' : 'no'} | ${p.established} | ${p.sockets} | ${p.probe.served ? `served, ${ms(p.probe)}` : 'not served'} |`);
  } finally {
    for (const c of children) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--hold') await hold(Number(process.argv[3]), Number(process.argv[4]), process.argv[5] as Scenario);
else await bench();
