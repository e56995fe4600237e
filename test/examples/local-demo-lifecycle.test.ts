// The demo launcher's life cycle as a user meets it: it stops everything whichever way it is
// stopped (SIGTERM, SIGINT, SIGHUP, to the launcher itself or to `npm start`), it refuses in one
// line when a port is taken, it says "running" only once HTTPS answers through to the app, and
// the config the user edits is a copy under the run directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.ts';
import { eventually } from '../helpers/recorder.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const START = join(ROOT, 'examples/local/start.ts');
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Demo {
  child: ChildProcess;
  output: () => string;
  ports: { admin: number; app: number; https: number };
  runDir: string;
  exited: Promise<number | null>;
}

async function launch(how: 'node' | 'npm', ports?: Demo['ports']): Promise<Demo> {
  ports ??= { admin: await freePort(), app: await freePort(), https: await freePort() };
  const runDir = await mkdtemp(join(tmpdir(), 'sidekick-demo-'));
  const [cmd, args] = how === 'npm' ? ['npm', ['start', '--silent']] : [process.execPath, [START]];
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ADMIN_LISTEN: `127.0.0.1:${ports.admin}`,
      HTTPS_LISTEN: `127.0.0.1:${ports.https}`,
      APP_PORT: String(ports.app),
      DEMO_RUN_DIR: runDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const demo = { child, output: () => output, ports, runDir, exited };
  cleanups.push(async () => {
    // Whatever the test did, leave nothing behind: the app by its pid file, the rest by the launcher.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await eventually(() => portsFree(ports), 300, 50).catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
  });
  return demo;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => res(true)));
  });
}
async function portsFree(ports: Demo['ports']): Promise<void> {
  for (const [name, port] of Object.entries(ports)) expect(await bindable(port), `${name} port ${port} still held`).toBe(true);
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function untilRunning(demo: Demo): Promise<void> {
  await eventually(() => expect(demo.output()).toContain('demo: Sidekick and the legacy app are running'), 1_200, 50);
}

async function childrenOf(pid: number): Promise<number[]> {
  return (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The pid npm started for the script (`exec` makes it the launcher itself, no shell between). */
async function npmChild(npmPid: number): Promise<number> {
  return eventually(async () => {
    const kids = await childrenOf(npmPid);
    expect(kids).toHaveLength(1);
    const cmdline = (await readFile(`/proc/${kids[0]}/cmdline`, 'utf8')).split('\0');
    expect(cmdline.some((a) => a.endsWith('examples/local/start.ts'))).toBe(true);
    return Number(kids[0]);
  });
}

describe('the demo launcher stops everything it started', () => {
  const cases: Array<{ how: 'node' | 'npm'; target: 'launcher' | 'npm' | "npm's child"; signal: NodeJS.Signals }> = [
    { how: 'node', target: 'launcher', signal: 'SIGTERM' },
    { how: 'node', target: 'launcher', signal: 'SIGHUP' },
    { how: 'npm', target: 'npm', signal: 'SIGTERM' },
    { how: 'npm', target: 'npm', signal: 'SIGHUP' },
    { how: 'npm', target: "npm's child", signal: 'SIGINT' },
  ];
  it.each(cases)('$signal to $target ($how start)', async ({ how, target, signal }) => {
    const demo = await launch(how);
    await untilRunning(demo);
    const launcher = how === 'npm' ? await npmChild(demo.child.pid!) : demo.child.pid!;
    const started = await childrenOf(launcher); // Sidekick and the legacy app
    expect(started).toHaveLength(2);

    process.kill(target === 'npm' ? demo.child.pid! : launcher, signal);
    await demo.exited;
    // Sidekick drains within its shutdownTimeout (5s); the bound here is generous on purpose.
    await eventually(() => {
      for (const pid of [launcher, ...started]) expect(alive(pid), `pid ${pid} still running`).toBe(false);
    }, 400, 50);
    await portsFree(demo.ports);
    expect(demo.output()).toContain('demo: sidekick exited (0)');
  }, 120_000);
});

describe('the demo launcher', () => {
  it.each(['HTTPS_LISTEN', 'ADMIN_LISTEN', 'APP_PORT'] as const)('refuses in one line when the %s port is taken', async (variable) => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => (blocker.listening ? blocker.close(r) : r(undefined))));
    const held = (blocker.address() as { port: number }).port;
    const ports = { admin: await freePort(), app: await freePort(), https: await freePort() };
    ports[({ HTTPS_LISTEN: 'https', ADMIN_LISTEN: 'admin', APP_PORT: 'app' } as const)[variable]] = held;

    const demo = await launch('node', ports);
    expect(await demo.exited).toBe(1);
    const lines = demo.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`port ${held}`);
    expect(lines[0]).toContain(`${variable}=`);
    expect(lines[0]).not.toMatch(/EADDRINUSE|at .*\(/);
    await new Promise((r) => blocker.close(r));
  }, 60_000);

  it('says "running" only once HTTPS answers 200 through to the app, with the editable config under the run directory', async () => {
    const demo = await launch('node');
    await untilRunning(demo);
    // The banner comes after the app listens, and the first request after it reaches the app.
    expect(demo.output().indexOf('legacy-app: listening')).toBeGreaterThanOrEqual(0);
    expect(demo.output().indexOf('legacy-app: listening')).toBeLessThan(demo.output().indexOf('are running'));
    const status = await new Promise<number>((ok, fail) =>
      request({ host: '127.0.0.1', port: demo.ports.https, path: '/after-banner', rejectUnauthorized: false, servername: 'localhost' }, (r) => {
        r.resume();
        ok(r.statusCode!);
      }).on('error', fail).end(),
    );
    expect(status).toBe(200);
    const copy = join(demo.runDir, 'remote-config/app.json');
    expect(existsSync(copy)).toBe(true);
    expect(demo.output()).toContain(`edit ${copy}`);
  }, 120_000);
});
