// A probe beside bench/tls-egress.bench.ts (same destination, same nginx forward, same wrk load):
// measures several agent variants (node flags, environment, build) against nginx in interleaved
// rounds, each variant paired with an nginx run right before it, so that each ratio comes from
// one pair of adjacent runs; prints per-round ratios and medians. For finding what the egress
// gap is made of, not a product benchmark.
// Run: node_modules/.bin/node bench/tls-egress-variants.ts [rounds] [variant,...]
//   BENCH_SECONDS (5), BENCH_WRK_C (32): wrk connections. BENCH_BASE_ROOT: another checkout, as the
//   last variant. PROBE_TRACE_GC=1 adds --trace-gc and
//   counts GCs and their pause time per measured run (from the agent's log). PROBE_ELD=1 preloads a
//   probe (--import) that reports the event loop's delay over the measured run (SIGUSR2 marks its
//   start and end). PROBE_CPU_PROF=1 runs the agent with --cpu-prof (warm-up and measured run) and
//   prints the functions with the most self time.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { imageAgent, sourceAgent } from './image-agent.ts';
import { nginxEgressConf, sidekickEgressConf } from './egress-peers.ts';
import { bin, cpuSeconds, launcher, selfSignedCert, startNginxApp, stop, waitPort } from './peer-processes.ts';
import { parseWrk, type WrkRun } from './wrk-output.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNS = Number(process.env.BENCH_WRK_C ?? 32);
const TRACE = process.env.PROBE_TRACE_GC === '1';
const ELD = process.env.PROBE_ELD === '1';
const PROF = process.env.PROBE_CPU_PROF === '1';
const rounds = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'sidekick-egress-variants-'));
const { start, children } = launcher(dir);
const run = promisify(execFile);

const image = imageAgent();
const sources = sourceAgent();
const { MALLOC_ARENA_MAX: _m, NODE_ENV: _n, ...plainEnv } = image.env;
interface Variant { name: string; args: string[]; env: NodeJS.ProcessEnv; floor?: boolean }
const img = (name: string, flags: string[], env = image.env): Variant => ({ name, args: [...flags, image.bin], env });
const all: Variant[] = [
  img('image (semi 1, hgp 20)', ['--max-semi-space-size=1', '--heap-growing-percent=20']),
  img('image, no flags', []),
  img('image, only semi 1', ['--max-semi-space-size=1']),
  img('image, only hgp 20', ['--heap-growing-percent=20']),
  img('image, semi 4 + hgp 20', ['--max-semi-space-size=4', '--heap-growing-percent=20']),
  img('image, no flags, no image env', [], plainEnv),
  { name: 'sources (no flags)', args: sources.args, env: sources.env },
  img('image + --single-threaded-gc', ['--max-semi-space-size=1', '--heap-growing-percent=20', '--single-threaded-gc']),
  // A young generation large enough that a 5 s run sees few scavenges: what GC adds to the tail.
  img('image, semi 64 (few scavenges)', ['--min-semi-space-size=64', '--max-semi-space-size=64']),
  // Node's floor (bench/egress-floor.mjs): a TLS connection per app connection, bytes copied unparsed.
  { name: 'node floor: TLS pipe, no parsing', args: [join(import.meta.dirname, 'egress-floor.mjs')], env: { ...process.env }, floor: true },
];
// BENCH_BASE_ROOT=<another checkout>: its image build as one more variant (an A/B of two commits).
const baseRoot = process.env.BENCH_BASE_ROOT;
if (baseRoot) {
  const base = imageAgent(baseRoot);
  all.push({ name: `image at ${baseRoot}`, args: base.args, env: base.env });
}
const pick = process.argv[3]?.split(',');
const variants = pick ? pick.map((i) => all[Number(i)]!) : all;

async function wrk(port: number): Promise<WrkRun> {
  const { stdout } = await run('taskset', ['-c', '1', 'wrk', '-t1', `-c${CONNS}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  return parseWrk(stdout);
}

/** GC lines of --trace-gc: count and summed pause ms per kind. */
function gcStats(log: string): Record<string, { n: number; ms: number; max: number }> {
  const out: Record<string, { n: number; ms: number; max: number }> = {};
  for (const m of log.matchAll(/ ms: (Scavenge|Minor Mark-Compact|Mark-Compact)\b.*? MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ ([\d.]+) ms/g)) {
    const s = (out[m[1]!] ??= { n: 0, ms: 0, max: 0 });
    s.n++;
    s.ms += Number(m[2]);
    s.max = Math.max(s.max, Number(m[2]));
  }
  // Incremental marking's steps before a Mark-Compact run on the main thread too, between JS.
  for (const m of log.matchAll(/Mark-Compact .*?\(\+ ([\d.]+) ms in (\d+) steps, biggest step ([\d.]+) ms/g)) {
    const s = (out['marking steps'] ??= { n: 0, ms: 0, max: 0 });
    s.n += Number(m[2]);
    s.ms += Number(m[1]);
    s.max = Math.max(s.max, Number(m[3]));
  }
  return out;
}

let fwdPid = 0;
let floorArgs: string[] = []; // the floor's destination port and CA file
const results = new Map<string, { ratio: number; p99x: number; rps: number; p99: number; cpu: number; cpux: number; gc?: string }[]>();

async function main(): Promise<void> {
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const { cert, key } = selfSignedCert(etc);
  const destPort = await freePort();
  const dest = await startNginxApp(dir, start, '1', destPort, { cert, key });
  const p1 = await freePort();
  const fwdConf = nginxEgressConf(dir, p1, destPort, cert);
  const fwd = start('0', bin('nginx')!, ['-c', fwdConf, '-p', dir]);
  await waitPort(p1, fwd);
  fwdPid = fwd.pid!;
  await wrk(p1);
  const p2 = await freePort();
  const file = sidekickEgressConf(dir, etc, p2, destPort, cert);
  floorArgs = [String(p2), String(destPort), cert];
  for (let r = 1; r <= rounds; r++) {
    for (const v of variants) {
      try {
        await pair(r, v, p1, p2, file);
      } catch (e) {
        // A starved wrk run (the shared box) prints no percentiles: that pair is skipped, said so.
        console.error(`r${r} ${v.name}: skipped (${(e as Error).message})`);
        for (const c of children) if (c.spawnargs.includes(file) || c.spawnargs.includes(floorArgs[0]!)) await stop(c);
      }
    }
  }
  await stop(fwd);
  await stop(dest);
  report();
}

async function pair(r: number, v: Variant, p1: number, p2: number, file: string): Promise<void> {
  {
    {
      const n0 = cpuSeconds(fwdPid);
      const ref = await wrk(p1);
      const ncpu = ((cpuSeconds(fwdPid) - n0) / ref.requests) * 1e6;
      const eld = join(dir, 'eld.mjs');
      if (ELD) {
        writeFileSync(eld, `import { monitorEventLoopDelay } from 'node:perf_hooks';
const h = monitorEventLoopDelay({ resolution: 1 }); h.enable(); let on = false;
process.on('SIGUSR2', () => { if (on) process.stderr.write('ELD p50 ' + (h.percentile(50) / 1e6).toFixed(2) + ' p99 ' + (h.percentile(99) / 1e6).toFixed(2) + ' p99.9 ' + (h.percentile(99.9) / 1e6).toFixed(2) + ' max ' + (h.max / 1e6).toFixed(2) + ' ms\\n'); on = !on; h.reset(); });
`);
      }
      const args = [...(TRACE ? ['--trace-gc'] : []), ...(ELD ? ['--import', eld] : []), ...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'prof')}`] : []), ...v.args];
      const child = start('0', process.execPath, [...args, ...(v.floor ? floorArgs : ['run', '--config', file])], v.env);
      await waitPort(p2, child);
      await wrk(p2);
      const log = join(dir, `node-${children.length - 1}.log`);
      const before = TRACE || ELD ? readFileSync(log, 'utf8').length : 0;
      if (ELD) process.kill(child.pid!, 'SIGUSR2');
      const cpu0 = cpuSeconds(child.pid!);
      const t0 = threadTicks(child.pid!);
      const s = await wrk(p2);
      const t1 = threadTicks(child.pid!);
      if (ELD) {
        process.kill(child.pid!, 'SIGUSR2');
        await new Promise((r) => setTimeout(r, 200));
      }
      const cpu = ((cpuSeconds(child.pid!) - cpu0) / s.requests) * 1e6;
      let gc: string | undefined;
      if (TRACE) {
        const st = gcStats(readFileSync(log, 'utf8').slice(before));
        gc = Object.entries(st).map(([k, x]) => `${k} ${x.n}x ${x.ms.toFixed(0)}ms (max ${x.max.toFixed(1)})`).join('; ');
      }
      // CPU of the agent's threads other than the main one (V8 workers, libuv): on one pinned core they take turns with it.
      const main = t1.get(child.pid!)?.ticks ?? 0;
      const others = [...t1].filter(([tid]) => tid !== child.pid).map(([tid, t]) => [t.comm, t.ticks - (t0.get(tid)?.ticks ?? 0)] as const).filter(([, d]) => d > 0);
      const threads = `main ${main - (t0.get(child.pid!)?.ticks ?? 0)} ticks, others ${others.map(([c, d]) => `${c} ${d}`).join(', ') || 'none'}`;
      gc = [gc, threads].filter(Boolean).join('; ');
      if (ELD) gc = [gc, /ELD .*/.exec(readFileSync(log, 'utf8').slice(before))?.[0]].filter(Boolean).join('; ');
      await stop(child);
      if (PROF) topSelf(join(dir, 'prof'));
      const row = { ratio: s.rps / ref.rps, p99x: s.p99 / ref.p99, rps: s.rps, p99: s.p99, cpu, cpux: ncpu / cpu, ...(gc ? { gc } : {}) };
      (results.get(v.name) ?? results.set(v.name, []).get(v.name)!).push(row);
      console.error(`r${r} ${v.name}: nginx ${Math.round(ref.rps)} p50 ${ref.p50.toFixed(2)} p99 ${ref.p99.toFixed(2)} | agent ${Math.round(s.rps)} (${row.ratio.toFixed(2)}x) p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} (${row.p99x.toFixed(2)}x) cpu/req ${cpu.toFixed(0)} us (nginx ${ncpu.toFixed(0)}: ${row.cpux.toFixed(2)}x capacity) err ${s.errors}${gc ? ` | ${gc}` : ''}`);
    }
  }
}

/** utime+stime clock ticks of each thread of `pid`, with its name. */
function threadTicks(pid: number): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited
    }
  }
  return out;
}

/** The profile(s) in `prof` (then removed): the 15 functions with the most self time, in % of samples. */
function topSelf(prof: string): void {
  for (const f of readdirSync(prof)) {
    const p = JSON.parse(readFileSync(join(prof, f), 'utf8')) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[] };
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    for (const id of p.samples) {
      const c = byId.get(id)!.callFrame;
      const k = `${c.functionName || '(anonymous)'} ${c.url.split('/').slice(-2).join('/')}:${c.lineNumber + 1}`;
      self.set(k, (self.get(k) ?? 0) + 1);
    }
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
    console.error(top.map(([k, n]) => `  ${((n / p.samples.length) * 100).toFixed(1)}% ${k}`).join('\n'));
  }
  rmSync(prof, { recursive: true, force: true });
}

function report(): void {
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`\n${rounds} rounds, ${SECONDS}s runs, wrk -t1 -c${CONNS}; medians (ratio vs the nginx run just before)`);
  console.log('| variant | req/s vs nginx | p99 vs nginx | agent p99 | CPU per req | capacity vs nginx (CPU per req) | req/s/p99 ratios per round |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [name, rs] of results) {
    console.log(`| ${name} | ${med(rs.map((x) => x.ratio)).toFixed(2)}x | ${med(rs.map((x) => x.p99x)).toFixed(2)}x | ${med(rs.map((x) => x.p99)).toFixed(2)} ms | ${med(rs.map((x) => x.cpu)).toFixed(0)} us | ${med(rs.map((x) => x.cpux)).toFixed(2)}x | ${rs.map((x) => `${x.ratio.toFixed(2)}/${x.p99x.toFixed(2)}`).join(' ')} |`);
  }
}

// Stopped early (SIGTERM/SIGINT): stop the peers and agents this started before exiting.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  });
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
