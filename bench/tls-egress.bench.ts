// Egress TLS origination: the app calls a plain local port, the forward opens verified TLS to the
// destination over a keep-alive pool. Sidekick (tls-terminator, direction: outbound) beside nginx
// doing the same (proxy_pass https:// with proxy_ssl_verify, proxy_ssl_name, session reuse and
// upstream keepalive), and Node's floor (bench/egress-floor.mjs: a bare TLS pipe, decision 0008).
// Destination: nginx (1 worker) serving TLS with a 257-byte body.
// Forward on CPU 0; destination and wrk on CPU 1. Load: wrk -t1 -c32 over plain HTTP keep-alive,
// after a warm-up run per forward. Access logs off on both forwards.
// Run: node_modules/.bin/node bench/tls-egress.bench.ts [--sources]   (BENCH_SECONDS=5 by default)
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { imageAgent, sourceAgent } from './image-agent.ts';
import { nginxEgressConf, sidekickEgressConf } from './egress-peers.ts';
import { bin, cpuSeconds, has, launcher, selfSignedCert, startNginxApp, stop, waitPort } from './peer-processes.ts';
import { parseWrk, type WrkRun } from './wrk-output.ts';

const agent = process.argv.includes('--sources') ? sourceAgent() : imageAgent();
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'sidekick-egress-bench-'));
const { start, children } = launcher(dir);
const run = promisify(execFile);

type Run = WrkRun;

async function wrk(port: number, seconds = SECONDS): Promise<Run> {
  const { stdout: out } = await run('taskset', ['-c', '1', 'wrk', '-t1', '-c32', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  return parseWrk(out);
}

async function measure(name: string, port: number, child: ReturnType<typeof start>): Promise<{ name: string; run: Run; cpuPer1k: number }> {
  await waitPort(port, child);
  await wrk(port); // warm-up as long as the measured run: JIT (the image starts its compilers under load), the pool
  const cpu0 = cpuSeconds(child.pid!);
  const r = await wrk(port);
  const cpuPer1k = ((cpuSeconds(child.pid!) - cpu0) / r.requests) * 1000;
  await stop(child);
  console.error(`  ${name}: ${Math.round(r.rps)} req/s, p99 ${r.p99.toFixed(2)} ms`);
  return { name, run: r, cpuPer1k };
}

async function main(): Promise<void> {
  if (!has('wrk') || !has('taskset') || !bin('nginx') || !has('openssl')) {
    console.log('tls-egress bench skipped: needs wrk, taskset, nginx and openssl');
    return;
  }
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const { cert, key } = selfSignedCert(etc);
  const destPort = await freePort();
  const dest = await startNginxApp(dir, start, '1', destPort, { cert, key });

  const rows = [];
  const p1 = await freePort();
  const fwdConf = nginxEgressConf(dir, p1, destPort, cert);
  rows.push(await measure('nginx 1 worker (proxy_pass https://, proxy_ssl_verify, upstream keepalive)', p1, start('0', bin('nginx')!, ['-c', fwdConf, '-p', dir])));

  // Node's floor (decision 0008): a TLS connection per app connection, bytes copied, no parsing.
  const p3 = await freePort();
  rows.push(await measure("Node's floor: bare TLS pipe, no parsing (egress-floor.mjs)", p3, start('0', process.execPath, [join(import.meta.dirname, 'egress-floor.mjs'), String(p3), String(destPort), cert])));

  const p2 = await freePort();
  const file = sidekickEgressConf(dir, etc, p2, destPort, cert);
  rows.push(await measure('Sidekick tls-terminator, direction: outbound', p2, start('0', process.execPath, [...agent.args, 'run', '--config', file], agent.env)));

  await stop(dest);
  const [ref] = rows;
  console.log(`\nEgress TLS origination, ${SECONDS}s per run, wrk -t1 -c32 plain HTTP keep-alive, forward on 1 core (${new Date().toISOString()}); Sidekick: ${agent.label}`);
  console.log('| forward | req/s | p50 | p99 | CPU per 1k req | errors |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const vs = r === ref ? '' : ` (${(r.run.rps / ref!.run.rps).toFixed(2)}x)`;
    const p99vs = r === ref ? '' : ` (${(r.run.p99 / ref!.run.p99).toFixed(2)}x)`;
    console.log(`| ${r.name} | ${Math.round(r.run.rps)}${vs} | ${r.run.p50.toFixed(2)} ms | ${r.run.p99.toFixed(2)} ms${p99vs} | ${(r.cpuPer1k * 1000).toFixed(0)} ms | ${r.run.errors} |`);
  }
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
