// Where the egress path allocates, per request: the agent (sources, direction: outbound) under
// wrk -t1 -c32 keep-alive, with bench/allocation-probe.mjs preloaded; prints the bytes allocated
// per request by function, objects collected by the GC included. Each allocation the young
// generation takes brings the next scavenge closer, and a scavenge stalls every request in flight.
// Run: node_modules/.bin/node bench/tls-egress-allocations.ts   (a probe, not in `npm run bench`)
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/helpers/free-port.ts';
import { sourceAgent } from './image-agent.ts';
import { sidekickEgressConf } from './egress-peers.ts';
import { launcher, selfSignedCert, startNginxApp, stop, waitPort } from './peer-processes.ts';

const START_MS = 5000;
const PROBE_MS = 6000;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sidekick-egress-alloc-'));
const { start, children } = launcher(dir);

interface ProfileNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: ProfileNode[] }

async function main(): Promise<void> {
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const { cert, key } = selfSignedCert(etc);
  const destPort = await freePort();
  await startNginxApp(dir, start, '1', destPort, { cert, key });
  const port = await freePort();
  const file = sidekickEgressConf(dir, etc, port, destPort, cert);
  const agent = sourceAgent();
  const out = join(dir, 'allocations.json');
  const probe = join(import.meta.dirname, 'allocation-probe.mjs');
  const a = start('0', process.execPath, ['--import', probe, ...agent.args, 'run', '--config', file], { ...agent.env, ALLOC_OUT: out, PROBE_START_MS: String(START_MS), PROBE_MS: String(PROBE_MS) });
  await waitPort(port, a);
  const seconds = Math.ceil((START_MS + PROBE_MS) / 1000) + 2;
  const { stdout } = await run('taskset', ['-c', '1', 'wrk', '-t1', '-c32', `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const requests = Number(/(\d+) requests in/.exec(stdout)![1]);
  const perRequestInWindow = (requests * PROBE_MS) / (seconds * 1000);
  const profile = JSON.parse(readFileSync(out, 'utf8')) as { head: ProfileNode };
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode): void => {
    const f = n.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(?=[^/]+\/[^/]+$)/, '')}:${f.lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
    total += n.selfSize;
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  console.log(`${requests} requests in ${seconds} s; about ${Math.round(total / perRequestInWindow)} bytes allocated per request (sampled, ${PROBE_MS / 1000} s window)`);
  console.log('| bytes per request | where |\n| --- | --- |');
  for (const [site, bytes] of [...bySite].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`| ${Math.round(bytes / perRequestInWindow)} | \`${site}\` |`);
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
