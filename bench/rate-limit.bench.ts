// The cost of a rate-limit rule per request (issue 20): Sidekick's tls-terminator (http mode)
// with and without one rateLimits rule keyed by address, beside nginx with and without
// limit_req ($binary_remote_addr zone, nodelay), in the same run. Both rules are set so high
// (1,000,000 r/s, burst 1,000,000) that they are never reached: what is measured is the check
// (key, bucket lookup, refill, take), not refusals. After the runs the bench reads Sidekick's
// /metrics and fails unless the rule refused nothing and holds a bucket (it was consulted), and
// fails on any non-2xx answer (nginx's limit_req refuses with 503).
// Backend: nginx (1 worker) returning a 257-byte body. Fronts: self-signed ECDSA P-256, TLS 1.3
// on all (nginx gets ssl_protocols TLSv1.2 TLSv1.3; Debian's default stops at 1.2), access logs
// off on all, upstream keep-alive. Fronts on CPU 0; backend and wrk on CPU 1.
// Load: wrk -t1 -c32 --latency over HTTPS keep-alive. All four fronts run at once (idle ones use
// no CPU); each gets a warm-up run, then ROUNDS rounds measure each front once, the with/without
// pair of each proxy back to back, their order swapped every round, so that drift on the shared
// machine falls on both sides of each ratio. Figures are the medians over the rounds.
// Run: node_modules/.bin/node bench/rate-limit.bench.ts [--sources]   (BENCH_SECONDS=5, BENCH_ROUNDS=3)
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import type { ConnectionInfo } from '../plugins/tls-terminator/connection-info.ts';
import { Protection } from '../plugins/tls-terminator/protect/protection.ts';
import type { RequestView } from '../plugins/tls-terminator/protect/rate-limits.ts';
import type { Logger, PluginMetrics } from '../src/plugin-api.ts';
import { imageAgent, sourceAgent } from './image-agent.ts';
import { bin, cpuSeconds, has, launcher, nginxMain, selfSignedCert, startNginxApp, stop, waitPort } from './peer-processes.ts';
import { parseWrk, type WrkRun } from './wrk-output.ts';

const agent = process.argv.includes('--sources') ? sourceAgent() : imageAgent();
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'sidekick-ratelimit-bench-'));
const { start, children } = launcher(dir);
const run = promisify(execFile);

/** Never reached: far above what one core serves (~15,000 req/s here); the metrics check would catch a refusal. */
const RATE = 1_000_000;
const BURST = 1_000_000;
const RULE = 'per-client';

async function wrk(port: number): Promise<WrkRun> {
  const { stdout } = await run('taskset', ['-c', '1', 'wrk', '-t1', '-c32', `-d${SECONDS}s`, '--latency', `https://127.0.0.1:${port}/`], { encoding: 'utf8' });
  try {
    return parseWrk(stdout);
  } catch (e) {
    throw new Error(`unreadable wrk output (${(e as Error).message}):\n${stdout}`);
  }
}

interface Front { name: string; port: number; child: ChildProcess; admin?: number; runs: Array<WrkRun & { cpuPer1k: number; busy: number }> }

async function measure(f: Front): Promise<void> {
  const cpu0 = cpuSeconds(f.child.pid!);
  const t0 = performance.now();
  const r = await wrk(f.port);
  const cpu = cpuSeconds(f.child.pid!) - cpu0;
  f.runs.push({ ...r, cpuPer1k: (cpu / r.requests) * 1000, busy: cpu / ((performance.now() - t0) / 1000) });
  console.error(`  ${f.name}: ${Math.round(r.rps)} req/s, p99 ${r.p99.toFixed(2)} ms, ${r.errors} errors`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** A sample's value in Prometheus text, by metric name and rule label; undefined when absent. */
function sample(text: string, metric: string, rule: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`rule="${rule}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * The check alone, in this process: Protection.admit() (what the plugin calls per request) with
 * no rule and with the bench's rule, on the request wrk sends, metrics stubbed (the plugin's
 * counters are touched only on a refusal or a new key). Nanoseconds per call, median of 5
 * alternating batches of 1,000,000 after a warm-up of each. The rate is 1,000 times the bench's
 * (same code path): a million calls take well under a second, faster than 1,000,000 r/s refills.
 */
function inProcess(): { none: number; rule: number } {
  const child = () => ({ inc() {}, set() {} });
  const metrics = { counter: () => ({ labels: child }), gauge: () => ({ labels: child }), histogram: () => ({ labels: child }) } as unknown as PluginMetrics;
  const log = { info() {}, warn() {} } as unknown as Logger;
  const deps = { metrics, log, clock: () => performance.now(), keep: <T>(_: string, make: () => T) => make(), trusted: () => false };
  const none = new Protection({ rateLimits: [] }, deps);
  const rule = new Protection({ rateLimits: [{ name: RULE, key: 'address', rate: RATE * 1000, burst: BURST, methods: [], pathPrefix: '/', maxKeys: 100_000 }] }, deps);
  const info = { clientAddress: '127.0.0.1', clientPort: 40000, peerAddress: '127.0.0.1', trusted: false, ja3: '', ja4: '', sni: '', tlsVersion: 'TLSv1.3', forbidden: false } satisfies ConnectionInfo;
  const view: RequestView = { method: 'GET', path: '/', raw: ['Host', '127.0.0.1:8443'], lower: ['host'], info };
  const N = 1_000_000;
  let refused = 0;
  const batch = (p: Protection) => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) if (typeof p.admit(view) === 'object') refused++;
    return ((performance.now() - t0) * 1e6) / N;
  };
  batch(none), batch(rule), batch(none), batch(rule);
  const ns = { none: [] as number[], rule: [] as number[] };
  for (let i = 0; i < 5; i++) ns.none.push(batch(none)), ns.rule.push(batch(rule));
  if (refused) throw new Error(`the in-process rule refused ${refused} calls`);
  return { none: median(ns.none), rule: median(ns.rule) };
}

async function main(): Promise<void> {
  if (!has('wrk') || !has('taskset') || !bin('nginx') || !has('openssl')) {
    console.log('rate-limit bench skipped: needs wrk, taskset, nginx and openssl (apt-get install wrk nginx openssl)');
    return;
  }
  const check = inProcess();
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const { cert, key } = selfSignedCert(etc);
  const nginx = bin('nginx')!;
  const backendPort = await freePort();
  await startNginxApp(dir, start, '1', backendPort);

  const nginxFront = async (name: string, file: string, limit: boolean): Promise<Front> => {
    const port = await freePort();
    writeFileSync(join(dir, file), `${nginxMain(dir, file)} http { access_log off;
      upstream app { server 127.0.0.1:${backendPort}; keepalive 64; }
      ${limit ? `limit_req_zone $binary_remote_addr zone=z:10m rate=${RATE}r/s;` : ''}
      server { listen 127.0.0.1:${port} ssl; ssl_certificate ${cert}; ssl_certificate_key ${key}; ssl_protocols TLSv1.2 TLSv1.3; keepalive_requests 100000;
        location / { ${limit ? `limit_req zone=z burst=${BURST} nodelay;` : ''} proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`);
    return { name, port, child: start('0', nginx, ['-c', join(dir, file), '-p', dir]), runs: [] };
  };
  const sidekickFront = async (name: string, rule: boolean): Promise<Front> => {
    const [port, admin] = [await freePort(), await freePort()];
    const file = join(etc, `sidekick-${port}.yaml`);
    const rules = rule ? `    rateLimits:\n      - { name: ${RULE}, key: address, rate: ${RATE}r/s, burst: ${BURST} }\n` : '';
    writeFileSync(file, `admin: { listen: 127.0.0.1:${admin} }\ndataDir: ${dir}/data-${port}\nplugins:\n  https:\n    type: tls-terminator\n    listen: 127.0.0.1:${port}\n    mode: http\n    upstream: http://127.0.0.1:${backendPort}\n    accessLog: false\n    tls: { cert: ${cert}, key: ${key} }\n${rules}`);
    return { name, port, admin, child: start('0', process.execPath, [...agent.args, 'run', '--config', file], agent.env), runs: [] };
  };
  const pairs: [[Front, Front], [Front, Front]] = [
    [await nginxFront('nginx 1 worker, no limit_req', 'nginx-plain', false), await nginxFront(`nginx 1 worker, limit_req ($binary_remote_addr, ${RATE}r/s, burst ${BURST} nodelay)`, 'nginx-limit', true)],
    [await sidekickFront('Sidekick tls-terminator, no rule', false), await sidekickFront(`Sidekick tls-terminator, 1 rule (key: address, ${RATE}r/s, burst ${BURST})`, true)],
  ];
  const fronts = pairs.flat();
  for (const f of fronts) await waitPort(f.port, f.child);
  for (const f of fronts) await wrk(f.port); // warm-up (JIT: the image turns its compilers on under load; pools)
  for (let round = 0; round < ROUNDS; round++) {
    console.error(`round ${round + 1}/${ROUNDS}`);
    for (const [plain, ruled] of pairs) for (const f of round % 2 ? [ruled, plain] : [plain, ruled]) await measure(f);
  }

  // The rule was consulted (it holds wrk's address) and never refused: the figure is the check's cost.
  const sk = pairs[1][1];
  const metrics = await (await fetch(`http://127.0.0.1:${sk.admin}/metrics`)).text();
  const refused = sample(metrics, 'sidekick_tls_terminator_rate_limited_total', RULE) ?? 0;
  const keys = sample(metrics, 'sidekick_tls_terminator_rate_limit_keys', RULE);
  const errors = fronts.reduce((n, f) => n + f.runs.reduce((m, r) => m + r.errors, 0), 0);

  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const rps = (f: Front) => median(f.runs.map((r) => r.rps));
  const p99 = (f: Front) => median(f.runs.map((r) => r.p99));
  const cpu = (f: Front) => median(f.runs.map((r) => r.cpuPer1k));
  console.log(`\nRate-limit rule cost, ${ROUNDS} rounds x ${SECONDS}s per front, wrk -t1 -c32 HTTPS keep-alive, fronts on 1 core, medians (${new Date().toISOString()}); Sidekick: ${agent.label}`);
  console.log('| front | req/s | p99 | CPU per 1k req | front busy | req/s per round | errors |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const f of fronts) {
    console.log(`| ${f.name} | ${Math.round(rps(f))} | ${p99(f).toFixed(2)} ms | ${(cpu(f) * 1000).toFixed(0)} ms | ${(median(f.runs.map((r) => r.busy)) * 100).toFixed(0)} % | ${f.runs.map((r) => Math.round(r.rps)).join(', ')} | ${f.runs.reduce((m, r) => m + r.errors, 0)} |`);
  }
  console.log('\nCost of the rule, per proxy (rule / no rule; per round: the back-to-back pairs):');
  console.log('| proxy | req/s ratio | per round | p99 ratio | CPU per request added |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [plain, ruled] of pairs) {
    const perRound = ruled.runs.map((r, i) => ratio(r.rps, plain.runs[i]!.rps)).join(', ');
    const added = (cpu(ruled) - cpu(plain)) * 1e3; // ms per 1k requests = us per request
    console.log(`| ${plain.name.split(',')[0]} | ${ratio(rps(ruled), rps(plain))} | ${perRound} | ${ratio(p99(ruled), p99(plain))} | ${added >= 0 ? '+' : ''}${added.toFixed(1)} us |`);
  }
  console.log('CPU per request added: the front\'s CPU per request with the rule minus without (medians); the req/s ratio shows the cost only when the front is the limit (front busy near 100 %), not wrk\'s core.');
  const [[nPlain, nRule], [sPlain, sRule]] = pairs;
  console.log('\nSidekick / nginx:');
  // When wrk's core is the limit (front busy well under 100 %) both fronts serve about what wrk
  // asks; nginx's CPU per request over Sidekick's is then what each could do on its own core.
  console.log('| | req/s | p99 | capacity (nginx CPU per request / Sidekick\'s) |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| without a rule | ${ratio(rps(sPlain), rps(nPlain))} | ${ratio(p99(sPlain), p99(nPlain))} | ${ratio(cpu(nPlain), cpu(sPlain))} |`);
  console.log(`| with the rule | ${ratio(rps(sRule), rps(nRule))} | ${ratio(p99(sRule), p99(nRule))} | ${ratio(cpu(nRule), cpu(sRule))} |`);
  const added = check.rule - check.none;
  console.log(`\nThe check alone, in process (Protection.admit(), 1,000,000 calls a batch, median of 5): no rule ${check.none.toFixed(0)} ns, 1 rule ${check.rule.toFixed(0)} ns: +${added.toFixed(0)} ns a request, ${((added / (cpu(sPlain) * 1e6)) * 100).toFixed(2)} % of Sidekick's CPU per request above (${(cpu(sPlain) * 1e3).toFixed(0)} us).`);
  console.log(`\nSidekick's rule after the runs: ${refused} refused (sidekick_tls_terminator_rate_limited_total), ${keys ?? 'no'} key(s) held (sidekick_tls_terminator_rate_limit_keys); non-2xx or socket errors over all runs: ${errors}`);
  if (refused !== 0 || !keys || errors !== 0) {
    process.exitCode = 1;
    console.log('FAILED: a "never reached" rule refused requests, was not consulted, or a front answered errors; the figures above are not the cost of the check');
  }
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
