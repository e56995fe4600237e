// Idle RSS of checkouts, each built and run as the image runs it, alternated in one run:
//   node bench/idle-rss-ab.ts <checkout>... [--rounds N, default 3]
// (this checkout when only one is named; an older commit is `git archive <commit> | tar -x -C
// /tmp/a` plus a node_modules symlink). Prints each start's figure and each side's median and range.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/helpers/free-port.ts';
import { idleRssOnce, median, prepareDirs, stop } from './idle-agent.ts';
import { imageAgent } from './image-agent.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--rounds');
const rounds = at >= 0 ? Number(args.splice(at, 2)[1]) : 3;
if (args.length === 0) throw new Error('usage: node bench/idle-rss-ab.ts <checkout>... [--rounds N]');
if (args.length === 1) args.push(resolve(import.meta.dirname, '..'));
const sides = args.map((dir, i) => [String.fromCharCode(65 + i), imageAgent(resolve(dir))] as const);
const dir = mkdtempSync(join(tmpdir(), 'sidekick-ab-'));
prepareDirs(dir);
const appPort = await freePort();
const app = spawn(process.execPath, [join(import.meta.dirname, '../examples/local/legacy-app.js')], {
  env: { ...process.env, APP_PORT: String(appPort), APP_LOG_DIR: join(dir, 'app-logs'), APP_CONFIG_DIR: join(dir, 'shared/config') },
  stdio: 'ignore',
});
const figures: Record<string, number[]> = Object.fromEntries(sides.map(([name]) => [name, []]));
try {
  for (let i = 0; i < rounds; i++) {
    // Alternate the order, so a drift of the machine weighs on every side.
    for (const [name, agent] of i % 2 ? [...sides].reverse() : sides) {
      const mb = await idleRssOnce(agent, dir, appPort);
      figures[name]!.push(mb);
      console.log(`${name} idle RSS ${mb.toFixed(1)} MB`);
    }
  }
} finally {
  await stop(app);
  rmSync(dir, { recursive: true, force: true });
}
for (const [name, agent] of sides) {
  console.log(`${name} = ${agent.bin}`);
  const xs = figures[name]!;
  console.log(`${name}: median ${median(xs).toFixed(1)} MB, range ${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} MB (${agent.label})`);
}
