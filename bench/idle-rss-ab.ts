// Idle RSS of two checkouts, each built and run as the image runs it, alternated in one run:
//   node bench/idle-rss-ab.ts <checkout A> [checkout B, default this one] [pairs, default 3]
// (A is typically an older commit: `git archive <commit> | tar -x -C /tmp/a` and a node_modules
// symlink.) Prints each start's figure and each side's median and range.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/helpers/free-port.ts';
import { idleRssOnce, median, prepareDirs, stop } from './idle-agent.ts';
import { imageAgent } from './image-agent.ts';

const [a, b = resolve(import.meta.dirname, '..'), pairs = '3'] = process.argv.slice(2);
if (!a) throw new Error('usage: node bench/idle-rss-ab.ts <checkout A> [checkout B] [pairs]');
const sides = [['A', imageAgent(resolve(a))], ['B', imageAgent(resolve(b))]] as const;
const dir = mkdtempSync(join(tmpdir(), 'sidekick-ab-'));
prepareDirs(dir);
const appPort = await freePort();
const app = spawn(process.execPath, [join(import.meta.dirname, '../examples/local/legacy-app.js')], {
  env: { ...process.env, APP_PORT: String(appPort), APP_LOG_DIR: join(dir, 'app-logs'), APP_CONFIG_DIR: join(dir, 'shared/config') },
  stdio: 'ignore',
});
const figures: Record<string, number[]> = { A: [], B: [] };
try {
  for (let i = 0; i < Number(pairs); i++) {
    // Alternate which side goes first, so a drift of the machine weighs on both.
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
  const xs = figures[name]!;
  console.log(`${name}: median ${median(xs).toFixed(1)} MB, range ${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} MB (${agent.label})`);
}
