// `npm start`: plays the pod. Makes the shared volumes under examples/local/.run/,
// starts Sidekick (the sidecar) and then the legacy app, and stops both on Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const here = import.meta.dirname;
// DEMO_RUN_DIR moves the pod's volumes elsewhere (tests use a temp dir).
const run = resolve(process.env.DEMO_RUN_DIR ?? join(here, '.run'));
const shared = { config: join(run, 'shared/config'), logs: join(run, 'shared/logs'), pid: join(run, 'shared/app.pid') };
for (const d of [shared.config, shared.logs, join(run, 'data')]) mkdirSync(d, { recursive: true });

const env = { ...process.env, APP_PORT: process.env.APP_PORT ?? '8080', DEMO_RUN_DIR: run };
const children: ChildProcess[] = [];

function start(name: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    console.error(`demo: ${name} exited (${signal ?? code})`);
    if (!stopping) shutdown(code ?? 1);
  });
  children.push(child);
  return child;
}

let stopping = false;
function shutdown(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

const sidekick = start('sidekick', [resolve(here, '../../bin/sidekick.js'), 'run', '--config', join(here, 'sidekick.yaml')]);
start('legacy-app', [join(here, 'legacy-app.js')], {
  APP_CONFIG_DIR: shared.config,
  APP_LOG_DIR: shared.logs,
  APP_PID_FILE: shared.pid,
});
void sidekick;

const admin = process.env.ADMIN_LISTEN ?? '127.0.0.1:9901';
setTimeout(() => {
  if (stopping) return;
  console.error(`
demo: Sidekick and the legacy app are running (Ctrl-C stops both).
  Admin:       curl http://${admin}/readyz   curl http://${admin}/status   curl http://${admin}/metrics
  The app:     curl http://127.0.0.1:${env.APP_PORT}/
  Shared dirs: ${run}/shared/{config,logs}
`);
}, 1500).unref();
