// log-shipper benchmark (issue 5): a 2,000,000-line access log (~166 bytes a line, ~317 MiB)
// shipped by the real agent (checkpoints on) to a local HTTP NDJSON receiver and to a
// syslog TCP receiver, side by side with rsyslog imfile -> omfwd in the same run; then an
// outage: the receiver down for 30 s while the app keeps writing.
// Run: node_modules/.bin/node bench/log-shipper.bench.ts [--lines N] [--outage-seconds S] [--skip-outage] [--sources | --bin PATH]
// The agent measured is the compiled build with the image's environment (bench/image-agent.ts);
// --sources runs this checkout from its .ts sources instead (type stripping at start: ~30 MB
// more RSS), --bin another build.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AgentBuild, imageAgent, sourceAgent } from './image-agent.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const LINES = arg('lines', 2_000_000);
const OUTAGE_S = arg('outage-seconds', 30);
const SKIP_OUTAGE = process.argv.includes('--skip-outage');
const ONLY = process.argv.includes('--only-http') ? 'http' : undefined;
const EXTRA = process.env.LS_BENCH_EXTRA ?? ''; // extra plugin keys for experiments, e.g. "    buffer: 8MiB\n"
const binArg = process.argv.indexOf('--bin');
const AGENT: AgentBuild =
  binArg > 0 ? { bin: resolve(process.argv[binArg + 1]!), args: [resolve(process.argv[binArg + 1]!)], env: process.env, label: 'given by --bin' }
  : process.argv.includes('--sources') ? sourceAgent()
  : imageAgent();
const BIN = AGENT.bin;
const work = mkdtempSync(join(tmpdir(), 'ls-bench-'));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

function accessLine(i: number): string {
  // ~166 bytes, like the measured file: combined log format with a sequence number.
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return `${ip} - - [24/Nov/2026:12:00:00 +0000] "GET /api/v1/items/${String(i).padStart(8, '0')}?page=2 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 bench/1.0.0"\n`;
}

function generate(file: string, n: number): number {
  const fd = openSync(file, 'w');
  let bytes = 0;
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += accessLine(i);
    if (chunk.length > 1 << 20) {
      bytes += writeSync(fd, chunk);
      chunk = '';
    }
  }
  bytes += writeSync(fd, chunk);
  closeSync(fd);
  return bytes;
}

/** Counts NDJSON lines POSTed to it; `down` answers 503. */
function httpReceiver() {
  const state = { lines: 0, down: false, server: undefined as unknown as http.Server, url: '' };
  state.server = http.createServer((req, res) => {
    if (state.down) {
      req.resume();
      res.writeHead(503).end();
      return;
    }
    let n = 0;
    req.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) n++;
    });
    req.on('end', () => {
      state.lines += n;
      res.writeHead(200).end();
    });
  });
  return state;
}

/** Counts RFC 6587 octet-counted frames. */
function syslogReceiver() {
  const state = { lines: 0, server: undefined as unknown as net.Server };
  state.server = net.createServer((s) => {
    let pending: Buffer | undefined;
    s.on('data', (d: Buffer) => {
      let buf = pending ? Buffer.concat([pending, d]) : d;
      let pos = 0;
      for (;;) {
        const sp = buf.indexOf(32, pos);
        if (sp === -1 || sp - pos > 10) break;
        let len = 0;
        for (let i = pos; i < sp; i++) len = len * 10 + (buf[i]! - 48);
        if (sp + 1 + len > buf.length) break;
        pos = sp + 1 + len;
        state.lines++;
      }
      pending = pos < buf.length ? buf.subarray(pos) : undefined;
    });
  });
  return state;
}

async function listen(server: net.Server | http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

interface Result {
  name: string;
  seconds: number;
  mibs: number;
  linesPerS: number;
  cpu: number;
  peakRss: number;
  complete: boolean;
}

async function runShipper(name: string, dir: string, file: string, bytes: number, sink: string, counter: { lines: number }): Promise<Result> {
  const data = join(dir, `data-${name.replace(/\W+/g, '-')}`);
  const config = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
  writeFileSync(config, `admin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\ndataDir: ${data}\nplugins:\n  logs:\n    type: log-shipper\n    include: ["${file}"]\n${EXTRA}    sink: ${sink}\n`);
  counter.lines = 0;
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...AGENT.args, 'run', '--config', config], { env: AGENT.env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const complete = await waitFor(() => counter.lines >= LINES, 600_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const res = { name, seconds, mibs: bytes / 2 ** 20 / seconds, linesPerS: LINES / seconds, cpu: cpuSeconds(child.pid!), peakRss: peakRssMb(child.pid!), complete };
  child.kill('SIGTERM');
  await once(child, 'exit');
  return res;
}

/** RSS of the agent running the plugin on an empty file: what the core and Node cost before any work. */
async function idleAgentRss(dir: string): Promise<number> {
  const file = join(dir, 'idle.log');
  writeFileSync(file, '');
  const config = join(dir, 'idle.yaml');
  writeFileSync(config, `admin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\ndataDir: ${join(dir, 'data-idle')}\nplugins:\n  logs:\n    type: log-shipper\n    include: ["${file}"]\n    sink: { type: file, path: /dev/null }\n`);
  const child = spawn(process.execPath, [...AGENT.args, 'run', '--config', config], { env: AGENT.env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  await new Promise((r) => setTimeout(r, 2000));
  const rss = rssMb(child.pid!);
  child.kill('SIGTERM');
  await once(child, 'exit');
  return rss;
}

function rsyslogInstalled(): boolean {
  return spawnSync('sh', ['-c', 'command -v rsyslogd'], { stdio: 'ignore' }).status === 0;
}

async function runRsyslog(dir: string, file: string, bytes: number, port: number, counter: { lines: number }): Promise<Result> {
  const rdir = join(dir, 'rsyslog');
  rmSync(rdir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', rdir]);
  const conf = join(rdir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${rdir}")\nmodule(load="imfile")\n` +
      `input(type="imfile" File="${file}" Tag="app" freshStartTail="off" reopenOnTruncate="on")\n` +
      `*.* action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" TCP_Framing="octet-counted" template="${process.env.LS_BENCH_RSYSLOG_TEMPLATE ?? 'RSYSLOG_SyslogProtocol23Format'}")\n`,
  );
  counter.lines = 0;
  const t0 = process.hrtime.bigint();
  const child: ChildProcess = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(rdir, 'pid')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  const complete = await waitFor(() => counter.lines >= LINES, 600_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const res = { name: 'rsyslog imfile -> omfwd (syslog TCP)', seconds, mibs: bytes / 2 ** 20 / seconds, linesPerS: LINES / seconds, cpu: cpuSeconds(child.pid!), peakRss: peakRssMb(child.pid!), complete };
  child.kill('SIGTERM');
  await once(child, 'exit');
  return res;
}

async function outage(dir: string): Promise<void> {
  const rx = httpReceiver();
  const port = await listen(rx.server);
  const file = join(dir, 'outage.log');
  writeFileSync(file, '');
  const data = join(dir, 'data-outage');
  const config = join(dir, 'outage.yaml');
  const bufferMb = 16;
  writeFileSync(config, `admin: { listen: 127.0.0.1:0 }\nlog: { level: error }\ndataDir: ${data}\nplugins:\n  logs:\n    type: log-shipper\n    include: ["${file}"]\n    buffer: ${bufferMb}MiB\n    retry: { initialDelay: 200ms, maxDelay: 2s }\n    sink: { type: http, url: "http://127.0.0.1:${port}/" }\n`);
  const child = spawn(process.execPath, [...AGENT.args, 'run', '--config', config], { env: AGENT.env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  await new Promise((r) => setTimeout(r, 1500));
  const idle = rssMb(child.pid!);
  rx.down = true;
  // The app keeps writing ~20,000 lines/s (~3.2 MiB/s) during the outage: ~100 MiB in 30 s, more than the buffer.
  let written = 0;
  let peak = 0;
  const end = Date.now() + OUTAGE_S * 1000;
  while (Date.now() < end) {
    let chunk = '';
    for (let i = 0; i < 2000; i++) chunk += accessLine(written++);
    appendFileSync(file, chunk);
    peak = Math.max(peak, rssMb(child.pid!));
    await new Promise((r) => setTimeout(r, 100));
  }
  rx.down = false;
  const t0 = Date.now();
  const complete = await waitFor(() => rx.lines >= written, 300_000);
  peak = Math.max(peak, peakRssMb(child.pid!));
  child.kill('SIGTERM');
  await once(child, 'exit');
  rx.server.close();
  console.log(`\nOutage: receiver down ${OUTAGE_S} s while the app wrote ${written.toLocaleString()} lines (${(written * 166 / 2 ** 20).toFixed(0)} MiB); buffer ${bufferMb} MiB`);
  console.log(`| RSS idle before | peak RSS during outage | growth over idle | limit for growth (buffer + 48 MB) | every line arrived after recovery | catch-up time |`);
  console.log(`| --- | --- | --- | --- | --- | --- |`);
  console.log(`| ${idle.toFixed(0)} MB | ${peak.toFixed(0)} MB | ${(peak - idle).toFixed(0)} MB | ${bufferMb + 48} MB | ${complete ? `yes (${rx.lines.toLocaleString()} received >= ${written.toLocaleString()} written)` : `NO (${rx.lines} of ${written})`} | ${((Date.now() - t0) / 1000).toFixed(1)} s |`);
}

async function main(): Promise<void> {
  const file = join(work, 'access.log');
  console.log(`Generating ${LINES.toLocaleString()} lines in ${file} ...`);
  const bytes = generate(file, LINES);
  console.log(`${(bytes / 2 ** 20).toFixed(0)} MiB, ${(bytes / LINES).toFixed(0)} bytes a line; node ${process.version}; agent: ${AGENT.label}, ${BIN}; MALLOC_ARENA_MAX=${AGENT.env.MALLOC_ARENA_MAX ?? 'unset'}\n`);

  const results: Result[] = [];
  const sys = syslogReceiver();
  const sysPort = await listen(sys.server);
  if (process.argv.includes('--only-outage')) {
    await outage(work);
    return;
  }
  if (ONLY) {
    const rx = httpReceiver();
    const httpPort = await listen(rx.server);
    const r = await runShipper('sidekick log-shipper -> HTTP NDJSON', work, file, bytes, `{ type: http, url: "http://127.0.0.1:${httpPort}/" }`, rx);
    console.log(r);
    return;
  }
  if (rsyslogInstalled()) results.push(await runRsyslog(work, file, bytes, sysPort, sys));
  else console.log('rsyslog not installed (apt-get install rsyslog): skipping the rsyslog peer');
  results.push(await runShipper('sidekick log-shipper -> syslog TCP', work, file, bytes, `{ type: syslog, address: "127.0.0.1:${sysPort}" }`, sys));
  const rx = httpReceiver();
  const httpPort = await listen(rx.server);
  results.push(await runShipper('sidekick log-shipper -> HTTP NDJSON', work, file, bytes, `{ type: http, url: "http://127.0.0.1:${httpPort}/" }`, rx));
  sys.server.close();
  rx.server.close();

  const idle = await idleAgentRss(work);
  console.log(`Agent idle with the plugin loaded (nothing to read): RSS ${idle.toFixed(0)} MB\n`);
  const base = results.find((r) => r.name.startsWith('rsyslog'));
  console.log('| shipper | MiB/s | lines/s | vs rsyslog | user+sys CPU | peak RSS | all lines |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const ratio = base ? `${(r.mibs / base.mibs).toFixed(2)}x` : 'n/a';
    console.log(`| ${r.name} | ${r.mibs.toFixed(0)} | ${Math.round(r.linesPerS).toLocaleString()} | ${ratio} | ${r.cpu.toFixed(1)} s | ${r.peakRss.toFixed(0)} MB | ${r.complete ? 'yes' : 'NO'} |`);
  }
  if (!SKIP_OUTAGE) await outage(work);
  if (process.argv.includes('--only-outage')) return;
}

await main();
process.exit(0);
