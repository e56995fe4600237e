// `npm start` as a new user runs it: Sidekick and the legacy app come up, the app answers
// over HTTPS, a config edit reaches the app, its access log is shipped, Ctrl-C stops both.
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/agent-process.ts';
import { eventually } from '../helpers/recorder.ts';

const HERE = resolve(import.meta.dirname, '../../examples/local');
let demo: ChildProcess;
let output = '';
let runDir: string;
const ports = { admin: 0, app: 0, https: 0 };

// The demo certificate is self-signed: this client trusts it, as `curl -k` does.
const insecure = new Agent({ rejectUnauthorized: false });
function httpsGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    request({ host: '127.0.0.1', port: ports.https, path, agent: insecure, servername: 'localhost' }, (r) => {
      let body = '';
      r.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => res({ status: r.statusCode!, body }));
    }).on('error', rej).end();
  });
}

beforeAll(async () => {
  for (const k of ['admin', 'app', 'https'] as const) ports[k] = await freePort();
  runDir = await mkdtemp(join(tmpdir(), 'sidekick-demo-'));
  await cp(join(HERE, 'remote-config'), join(runDir, 'remote-config'), { recursive: true });
  demo = spawn(process.execPath, [join(HERE, 'start.ts')], {
    env: {
      ...process.env,
      ADMIN_LISTEN: `127.0.0.1:${ports.admin}`,
      HTTPS_LISTEN: `127.0.0.1:${ports.https}`,
      APP_PORT: String(ports.app),
      DEMO_RUN_DIR: runDir,
      DEMO_REMOTE_CONFIG: join(runDir, 'remote-config'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout!.on('data', (c) => (output += c));
  demo.stderr!.on('data', (c) => (output += c));
});
afterAll(async () => {
  // SIGTERM, not SIGKILL: the launcher's children run in their own process groups, and only
  // the launcher stops them.
  if (demo.exitCode === null && demo.signalCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGTERM');
    const timer = setTimeout(() => demo.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  await rm(runDir, { recursive: true, force: true });
});

describe('the local demo (npm start)', () => {
  it('serves the app over HTTPS, syncs its config, ships its log, and stops cleanly on SIGINT', async () => {
    const status: any = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${ports.admin}/readyz`);
      expect(res.status, output).toBe(200);
      return (await fetch(`http://127.0.0.1:${ports.admin}/status`)).json();
    }, 1200, 50); // up to a minute: on a loaded machine the demo builds and starts two processes
    for (const name of ['https', 'app-config', 'app-logs', 'app-health']) {
      expect(status.instances[name], name).toMatchObject({ state: 'running', ready: true });
    }

    // HTTPS through the tls-terminator; the app saw the forwarding and fingerprint headers.
    const first = await httpsGet('/first');
    expect(first.status).toBe(200);
    const seen = JSON.parse(first.body);
    expect(seen.greeting).toMatch(/^hello from the remote config/);
    expect(seen.headers).toMatchObject({ 'x-forwarded-proto': 'https', 'x-forwarded-for': '127.0.0.1' });
    expect(seen.headers['x-ja4-fingerprint']).toMatch(/^t1[23]d\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/);

    // A config change is published and the app reloads it (SIGHUP via its pid file).
    await writeFile(join(runDir, 'remote-config/app.json'), '{"greeting":"changed by the test"}\n');
    await eventually(async () => expect(JSON.parse((await httpsGet('/second')).body).greeting).toBe('changed by the test'), 200, 50);

    // The app's access log lines arrive in the shipped file.
    await eventually(async () => {
      const shipped = await readFile(join(runDir, 'shipped/access.ndjson'), 'utf8');
      expect(shipped).toContain('GET /first');
      expect(shipped).toContain('GET /second');
    }, 200, 50);

    demo.kill('SIGINT');
    const code = await new Promise((r) => demo.once('exit', r));
    expect(code).toBe(0);
    expect(output).toContain('demo: sidekick exited (0)');
    expect(output).toContain('demo: legacy-app exited (0)');
  });
});
