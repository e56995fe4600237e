// `npm start` as a new user runs it: the launcher starts Sidekick and the legacy app,
// the admin endpoint turns ready, the app answers, Ctrl-C stops both cleanly.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/recorder.ts';

const START = resolve(import.meta.dirname, '../../examples/local/start.ts');
let demo: ChildProcess;
let output = '';
let runDir: string;
const ports = { admin: 0, app: 0 };

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

beforeAll(async () => {
  ports.admin = await freePort();
  ports.app = await freePort();
  runDir = await mkdtemp(join(tmpdir(), 'sidekick-demo-'));
  demo = spawn(process.execPath, [START], {
    env: { ...process.env, ADMIN_LISTEN: `127.0.0.1:${ports.admin}`, APP_PORT: String(ports.app), DEMO_RUN_DIR: runDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout!.on('data', (c) => (output += c));
  demo.stderr!.on('data', (c) => (output += c));
});
afterAll(async () => {
  if (demo.exitCode === null) demo.kill('SIGKILL');
  await rm(runDir, { recursive: true, force: true });
});

describe('the local demo (npm start)', () => {
  it('becomes ready, serves the app, and stops both processes on SIGINT', async () => {
    const status: any = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${ports.admin}/readyz`);
      expect(res.status, output).toBe(200);
      return (await fetch(`http://127.0.0.1:${ports.admin}/status`)).json();
    }, 300, 50);
    expect(status.instances['app-health']).toMatchObject({ state: 'running', ready: true });
    const app = await fetch(`http://127.0.0.1:${ports.app}/`);
    expect(app.status).toBe(200);
    expect(await app.json()).toMatchObject({ method: 'GET', url: '/' });

    demo.kill('SIGINT');
    const code = await new Promise((r) => demo.once('exit', r));
    expect(code).toBe(0);
    expect(output).toContain('demo: sidekick exited (0)');
    expect(output).toContain('demo: legacy-app exited (0)');
  });
});
