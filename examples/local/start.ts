// `npm start`: plays the pod. Makes the shared volumes under examples/local/.run/, starts
// Sidekick (the sidecar) and, once it runs, the legacy app; Ctrl-C stops both.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const here = import.meta.dirname;
// DEMO_RUN_DIR moves the pod's volumes elsewhere (tests use a temp dir).
const run = resolve(process.env.DEMO_RUN_DIR ?? join(here, '.run'));
const shared = { config: join(run, 'shared/config'), logs: join(run, 'shared/logs'), pid: join(run, 'shared/app.pid') };
for (const d of [shared.config, shared.logs, join(run, 'data'), join(run, 'shipped')]) mkdirSync(d, { recursive: true });

const env = {
  ...process.env,
  APP_PORT: process.env.APP_PORT ?? '8080',
  ADMIN_LISTEN: process.env.ADMIN_LISTEN ?? '127.0.0.1:9901',
  HTTPS_LISTEN: process.env.HTTPS_LISTEN ?? '127.0.0.1:8443',
  DEMO_RUN_DIR: run,
};
const children: ChildProcess[] = [];
let stopping = false;

function start(name: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  // Own process group: Ctrl-C reaches only this launcher, which sends each child one SIGTERM
  // (a second signal would make Sidekick skip its drain).
  const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  child.on('exit', (code, signal) => {
    console.error(`demo: ${name} exited (${signal ?? code})`);
    if (!stopping) shutdown(code ?? 1);
  });
  children.push(child);
  return child;
}

function shutdown(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

// Like a native sidecar: Sidekick first (its first config sync publishes app.json), then the app.
start('sidekick', [resolve(here, '../../bin/sidekick.js'), 'run', '--config', join(here, 'sidekick.yaml')]);
for (let i = 0; i < 200 && !stopping; i++) {
  try {
    const status = (await (await fetch(`http://${env.ADMIN_LISTEN}/status`)).json()) as { state?: string };
    if (status.state === 'running') break;
  } catch {
    // not listening yet
  }
  await new Promise((r) => setTimeout(r, 50));
}
if (!stopping) {
  start('legacy-app', [join(here, 'legacy-app.js')], { APP_CONFIG_DIR: shared.config, APP_LOG_DIR: shared.logs, APP_PID_FILE: shared.pid });
  const https = env.HTTPS_LISTEN.replace(/^(0\.0\.0\.0|127\.0\.0\.1)/, 'localhost');
  console.error(`
demo: Sidekick and the legacy app are running (Ctrl-C stops both).
  The app over HTTPS: curl -k https://${https}/            (self-signed; see the X-Forwarded-* and X-JA4-Fingerprint headers it got)
  Change its config:  edit ${join(here, 'remote-config/app.json')}, then curl again (published atomically, app gets SIGHUP)
  Its shipped logs:   tail -f ${join(run, 'shipped/access.ndjson')}
  Admin:              curl http://${env.ADMIN_LISTEN}/readyz   /status   /metrics
`);
}
