// Footprint of the agent: idle RSS with every built-in plugin configured, and time from
// process start to /readyz 200 on the demo config (the image build, which ships, and the sources,
// which `npm start` runs). Bare Node is the peer.
// Targets (issue 2): idle RSS <= 64 MB, start to ready <= 300 ms.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BUILTIN_PLUGINS } from '../src/plugins/builtin-plugins.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { idleRssOnce, median, prepareDirs, rssMb, stop, waitReady } from './idle-agent.ts';
import { type AgentBuild, imageAgent, sourceAgent } from './image-agent.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = 10;
const max = (xs: number[]) => Math.max(...xs);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sidekick-bench-'));
  prepareDirs(dir);
  const appPort = await freePort();
  const app = spawn(process.execPath, [join(ROOT, 'examples/local/legacy-app.js')], {
    env: { ...process.env, APP_PORT: String(appPort), APP_LOG_DIR: join(dir, 'app-logs'), APP_CONFIG_DIR: join(dir, 'shared/config') },
    stdio: 'ignore',
  });
  try {
    // Peer: bare Node.
    const bareStart: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      execFileSync(process.execPath, ['-e', '0']);
      bareStart.push(performance.now() - t);
    }
    const bare = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    // The least an agent with an HTTP admin endpoint could be: a bare node:http server.
    const bareHttp = spawn(process.execPath, ['-e', "require('node:http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1')"]);
    await new Promise((r) => setTimeout(r, 1000));
    const bareRss = rssMb(bare.pid!);
    const bareHttpRss = rssMb(bareHttp.pid!);
    await stop(bare);
    await stop(bareHttp);

    // Start to ready, demo config: the image's build (what ships) and the sources (npm start), alternated.
    const image = imageAgent();
    const source = sourceAgent();
    const readyMs = { image: [] as number[], source: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      for (const [key, agentBuild] of [['image', image], ['source', source]] as const) {
        const port = await freePort();
        const t = performance.now();
        const agent = spawn(process.execPath, [...agentBuild.args, 'run', '--config', join(agentBuild.root ?? ROOT, 'examples/local/sidekick.yaml')], {
          env: { ...agentBuild.env, ADMIN_LISTEN: `127.0.0.1:${port}`, HTTPS_LISTEN: '127.0.0.1:0', APP_PORT: String(appPort), DEMO_RUN_DIR: dir },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        await waitReady(`http://127.0.0.1:${port}/readyz`, agent);
        readyMs[key].push(performance.now() - t);
        await stop(agent);
      }
    }

    // One start's idle RSS moves by +-5 MB (when V8 and malloc happen to give memory back),
    // so the figure is the median of three starts.
    const idleRss = async (a: AgentBuild) => median([await idleRssOnce(a, dir, appPort), await idleRssOnce(a, dir, appPort), await idleRssOnce(a, dir, appPort)]);
    const idleDist = await idleRss(image);
    const idleSrc = await idleRss(source);

    const rows = [
      ['bare node:http server (peer, not sidekick)', `${bareHttpRss.toFixed(1)} MB`, `${bareRss.toFixed(1)} MB`, `${(bareHttpRss / bareRss).toFixed(2)}x`, '', ''],
      [`idle RSS, all built-in plugins (${image.label})`, `${idleDist.toFixed(1)} MB`, `${bareRss.toFixed(1)} MB`, `${(idleDist / bareRss).toFixed(2)}x`, '<= 64 MB', idleDist <= 64 ? 'met' : 'MISSED'],
      ['idle RSS, all built-in plugins (TypeScript sources, npm start)', `${idleSrc.toFixed(1)} MB`, `${bareRss.toFixed(1)} MB`, `${(idleSrc / bareRss).toFixed(2)}x`, '<= 64 MB', idleSrc <= 64 ? 'met' : 'MISSED'],
      ...(['image', 'source'] as const).flatMap((key) => {
        const ms = readyMs[key];
        const label = key === 'image' ? image.label : 'TypeScript sources, npm start';
        return [
          [`start to /readyz 200 (demo, ${label}), median of ${RUNS}`, `${median(ms).toFixed(0)} ms`, `${median(bareStart).toFixed(0)} ms`, `${(median(ms) / median(bareStart)).toFixed(1)}x`, '<= 300 ms', median(ms) <= 300 ? 'met' : 'MISSED'],
          [`start to /readyz 200 (demo, ${label}), max of ${RUNS}`, `${max(ms).toFixed(0)} ms`, `${max(bareStart).toFixed(0)} ms`, '', '<= 300 ms', max(ms) <= 300 ? 'met' : 'MISSED'],
        ];
      }),
    ];
    console.log(`built-in plugins configured: ${Object.keys(BUILTIN_PLUGINS).join(', ') || '(none registered)'}; Node ${process.version}`);
    console.log('| measure | sidekick | bare node (`node -e 0`) | ratio | target | |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    await stop(app);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
