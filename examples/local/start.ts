// `npm start`: plays the pod. Makes the shared volumes under examples/local/.run/, starts
// Sidekick (the sidecar) and, once it runs, the legacy app, and says "running" once HTTPS
// answers through to the app. SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed terminal) stop both.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkPorts, waitForHttps } from './demo-checks.ts';

const here = import.meta.dirname;
// DEMO_RUN_DIR moves the pod's volumes elsewhere (tests use a temp dir).
const run = resolve(process.env.DEMO_RUN_DIR ?? join(here, '.run'));
const shared = { config: join(run, 'shared/config'), logs: join(run, 'shared/logs'), pid: join(run, 'shared/app.pid') };
for (const d of [shared.config, shared.logs, join(run, 'data'), join(run, 'shipped')]) mkdirSync(d, { recursive: true });
// The "remote" config the user edits: a copy under the ignored run directory, made once, so
// edits survive a restart and the checkout stays clean.
const remoteConfig = resolve(process.env.DEMO_REMOTE_CONFIG ?? join(run, 'remote-config'));
if (!existsSync(remoteConfig)) cpSync(join(here, 'remote-config'), remoteConfig, { recursive: true });

const env = {
  ...process.env,
  APP_PORT: process.env.APP_PORT ?? '8080',
  ADMIN_LISTEN: process.env.ADMIN_LISTEN ?? '127.0.0.1:9901',
  HTTPS_LISTEN: process.env.HTTPS_LISTEN ?? '127.0.0.1:8443',
  DEMO_RUN_DIR: run,
  DEMO_REMOTE_CONFIG: remoteConfig,
};
// Sidekick drains within the config's shutdownTimeout (5s); whatever is left after this is killed.
const KILL_AFTER_MS = 6_000;

const taken = await checkPorts([
  { variable: 'HTTPS_LISTEN', address: env.HTTPS_LISTEN },
  { variable: 'ADMIN_LISTEN', address: env.ADMIN_LISTEN },
  { variable: 'APP_PORT', address: `127.0.0.1:${env.APP_PORT}` },
]);
if (taken) {
  console.error(taken);
  process.exit(1);
}

const children: ChildProcess[] = [];
let stopping = false;

function start(name: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  // Own process group: a Ctrl-C or a closed terminal reaches only this launcher, which sends
  // each child exactly one SIGTERM (a second signal would make Sidekick skip its drain).
  const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  child.on('exit', (code, signal) => {
    console.error(`demo: ${name} exited (${signal ?? code})`);
    if (!stopping) shutdown(code || 1);
  });
  children.push(child);
  return child;
}

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
function shutdown(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (running(c)) c.kill('SIGTERM');
  setTimeout(() => {
    for (const c of children) if (running(c)) c.kill('SIGKILL');
  }, KILL_AFTER_MS).unref();
  Promise.all(children.map((c) => (running(c) ? new Promise((r) => c.once('exit', r)) : null))).then(() => process.exit(code));
}
process.on('exit', () => children.forEach((c) => running(c) && c.kill('SIGKILL')));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(0));
// npm forwards SIGINT and SIGTERM but dies of SIGHUP (or SIGKILL) without telling us: stop
// when the process that started the demo is gone.
const parent = process.ppid;
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    shutdown(0);
  }
}, 500).unref();

// Like a native sidecar: Sidekick first (its first config sync publishes app.json), then the app.
start('sidekick', [resolve(here, '../../bin/sidekick.js'), 'run', '--config', join(here, 'sidekick.yaml')]);
for (let i = 0; i < 400 && !stopping; i++) {
  try {
    const status = (await (await fetch(`http://${env.ADMIN_LISTEN}/status`)).json()) as { state?: string };
    if (status.state === 'running') break;
  } catch {
    // not listening yet
  }
  await new Promise((r) => setTimeout(r, 50));
}
if (!stopping) start('legacy-app', [join(here, 'legacy-app.js')], { APP_CONFIG_DIR: shared.config, APP_LOG_DIR: shared.logs, APP_PID_FILE: shared.pid });
const https = env.HTTPS_LISTEN.replace(/^(0\.0\.0\.0|127\.0\.0\.1)/, 'localhost');
if (!stopping && (await waitForHttps(`https://${env.HTTPS_LISTEN}/health`, () => stopping))) {
  console.error(`
demo: Sidekick and the legacy app are running (Ctrl-C stops both).
  The app over HTTPS: curl -k https://${https}/            (self-signed; see the X-Forwarded-* and X-JA4-Fingerprint headers it got)
  Change its config:  edit ${join(remoteConfig, 'app.json')}, then curl again (published atomically, app gets SIGHUP)
  Its shipped logs:   tail -f ${join(run, 'shipped/access.ndjson')}
  Admin:              http://${env.ADMIN_LISTEN}/ in a browser; curl http://${env.ADMIN_LISTEN}/readyz   /status   /metrics
`);
} else if (!stopping) {
  console.error(`demo: HTTPS on ${env.HTTPS_LISTEN} did not answer 200 through to the app; stopping`);
  shutdown(1);
}
