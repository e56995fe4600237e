// An agent with every built-in plugin configured, started and left idle: its RSS once V8's memory
// reducer has shrunk the heap after start-up. Shared by the footprint bench and the A/B script.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_PLUGINS } from '../src/plugins/builtin-plugins.ts';
import { freePort } from '../test/helpers/free-port.ts';
import type { AgentBuild } from './image-agent.ts';

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

export async function waitReady(url: string, child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  for (let i = 0; i < 4000; i++) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`${url} never returned 200`);
}

export const stop = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))));
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Directories the plugins' configs point at, made under `dir`. */
export function prepareDirs(dir: string): void {
  for (const d of ['remote', 'shared/config', 'logs', 'shipped']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'remote/app.json'), '{"greeting":"bench"}\n');
  writeFileSync(join(dir, 'logs/app.log'), 'one line\n');
}

// A minimal config per built-in type, all on loopback and temp dirs.
function pluginConfigs(dir: string, appPort: number): string {
  const blocks: Record<string, string> = {
    'tls-terminator': `  https:\n    type: tls-terminator\n    listen: 127.0.0.1:0\n    upstream: http://127.0.0.1:${appPort}\n`,
    'config-sync': `  app-config:\n    type: config-sync\n    source:\n      dir:\n        path: ${join(dir, 'remote')}\n    target: ${join(dir, 'shared/config')}\n    interval: 10s\n`,
    'log-shipper': `  logs:\n    type: log-shipper\n    include: ["${join(dir, 'logs')}/*.log"]\n    sink:\n      type: file\n      path: ${join(dir, 'shipped.ndjson')}\n`,
  };
  return Object.keys(BUILTIN_PLUGINS).map((t) => blocks[t] ?? '').join('');
}

/** Idle RSS in MB: the median of 10 samples taken 12 s after /readyz first answered 200. */
export async function idleRssOnce(agentBuild: AgentBuild, dir: string, appPort: number): Promise<number> {
  const port = await freePort();
  const config = join(dir, 'all.yaml');
  writeFileSync(config, `admin:\n  listen: 127.0.0.1:${port}\ndataDir: ${join(dir, 'data')}\nplugins:\n${pluginConfigs(dir, appPort) || '  {}\n'}`);
  const agent = spawn(process.execPath, [...agentBuild.args, 'run', '--config', config], { env: agentBuild.env, stdio: ['ignore', 'ignore', 'pipe'] });
  await waitReady(`http://127.0.0.1:${port}/readyz`, agent);
  // Idle means steady state: V8's memory reducer shrinks the heap some seconds after start-up.
  await new Promise((r) => setTimeout(r, 12_000));
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    samples.push(rssMb(agent.pid!));
  }
  await stop(agent);
  return median(samples);
}
