// What `sidekick capture` adds per request: the same Sidekick, the same client, HTTPS keep-alive
// straight to Sidekick's TLS port (pod-ip:8443) and through the capture redirect (pod-ip:8080).
// Rig: a "client" and a "pod" network namespace joined by a veth pair (as the capture test);
// the app (nginx, 1 worker, 257-byte body) bound to 0.0.0.0:8080 in the pod. Redirected connections
// are NATed by conntrack at connect time; a kept-alive connection pays it only in its packets' lookups.
// Needs root, ip, nft or iptables, nginx, wrk. Run: node_modules/.bin/node bench/capture-redirect.bench.ts
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createNetnsPair, netnsPair } from '../test/helpers/netns-pair.ts';
import { bin, has } from './peer-processes.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROOT = resolve(import.meta.dirname, '..');
let CLIENT = '';

function wrk(url: string, seconds: number): { rps: number; p99: string } {
  const out = spawnSync('ip', ['netns', 'exec', CLIENT, 'wrk', '-t1', '-c16', `-d${seconds}s`, '--latency', url], { encoding: 'utf8' }).stdout;
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), p99: /^\s+99%\s+(\S+)$/m.exec(out)?.[1] ?? '?' };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !has('ip') || !has('wrk') || !bin('nginx') || (!has('nft') && !has('iptables'))) {
    console.log('capture-redirect bench skipped: needs root, iproute2, wrk, nginx and nftables or iptables');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sidekick-capture-bench-'));
  const children: ReturnType<typeof spawn>[] = [];
  const pair = createNetnsPair(netnsPair('skb', 151));
  const { pod: POD, podIp: POD_IP } = pair;
  CLIENT = pair.client;
  try {
    writeFileSync(join(dir, 'app.conf'), `worker_processes 1; daemon off; pid ${dir}/app.pid; error_log ${dir}/app.err; events { worker_connections 1024; }
      http { access_log off; keepalive_requests 100000; server { listen 0.0.0.0:8080; location / { return 200 '${'x'.repeat(256)}\n'; } } }`);
    children.push(spawn('ip', ['netns', 'exec', POD, bin('nginx')!, '-c', join(dir, 'app.conf'), '-p', dir], { stdio: 'ignore' }));
    writeFileSync(join(dir, 'sidekick.yaml'), `dataDir: ${join(dir, 'data')}\nplugins:\n  in:\n    type: tls-terminator\n    listen: 0.0.0.0:8443\n    upstream: http://127.0.0.1:8080\n    accessLog: false\n`);
    const agent = spawn('ip', ['netns', 'exec', POD, process.execPath, join(ROOT, 'bin/sidekick.js'), 'run', '--config', join(dir, 'sidekick.yaml')], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(agent);
    await new Promise<void>((res) => agent.stdout!.on('data', (d: Buffer) => String(d).includes(' ready"') && res()));
    agent.stdout!.resume();
    const cap = spawnSync('ip', ['netns', 'exec', POD, process.execPath, join(ROOT, 'bin/sidekick.js'), 'capture', '--inbound-ports', '8080', '--inbound-capture-port', '8443'], { encoding: 'utf8' });
    if (cap.status !== 0) throw new Error(cap.stderr);
    const direct = `https://${POD_IP}:8443/`;
    const captured = `https://${POD_IP}:8080/`;
    wrk(direct, 2); // warm-up
    wrk(captured, 2);
    const a = wrk(direct, SECONDS);
    const b = wrk(captured, SECONDS);
    console.log(`\nCapture redirect cost, ${SECONDS}s per run, wrk -t1 -c16 HTTPS keep-alive from the client namespace, same Sidekick (${new Date().toISOString()}):`);
    console.log('| path | req/s | p99 |');
    console.log('| --- | --- | --- |');
    console.log(`| pod-ip:8443 (Sidekick's port, no redirect) | ${Math.round(a.rps)} | ${a.p99} |`);
    console.log(`| pod-ip:8080 (captured, redirected to 8443) | ${Math.round(b.rps)} (${(b.rps / a.rps).toFixed(2)}x) | ${b.p99} |`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
