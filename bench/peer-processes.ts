// Process plumbing for the benchmarks that run Sidekick beside real peers (nginx, HAProxy, ...):
// finding a peer, starting it pinned to a core with its output in a file, waiting for its port,
// stopping it, reading its RSS and CPU time from /proc, and the self-signed certificate all fronts share.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
/** The command's path if installed, looking in /usr/sbin too (nginx, haproxy are there). */
export const bin = (name: string) => (has(name) ? name : has(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : undefined);

export async function waitPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never opened`);
}

export type Start = (cpu: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv, wrap?: string[]) => ChildProcess;

/**
 * `start(cpu, cmd, args, env, wrap)` runs `taskset -c cpu [...wrap] cmd ...args` (wrap: e.g. a
 * `prlimit` prefix, which execs, so the pid stays the command's), logging to a file in `dir`;
 * every child is kept in `children` for the caller to stop at the end.
 */
export function launcher(dir: string): { start: Start; children: ChildProcess[] } {
  const children: ChildProcess[] = [];
  const start: Start = (cpu, cmd, args, env = process.env, wrap = []) => {
    // Output to files, not pipes: a pipe nobody drains during a run would stall a chatty peer.
    const log = join(dir, `${cmd.split('/').pop()}-${children.length}.log`);
    const fd = openSync(log, 'w');
    const child = spawn('taskset', ['-c', cpu, ...wrap, cmd, ...args], { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.on('exit', (code) => code && code !== 143 && console.error(`${cmd} exited ${code}: ${readFileSync(log, 'utf8').slice(-500)}`));
    children.push(child);
    return child;
  };
  return { start, children };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(t);
}

/** A process and its direct children (nginx's master and workers). */
function tree(pid: number): string[] {
  return [String(pid), ...spawnSync('pgrep', ['-P', String(pid)]).stdout.toString().split('\n').filter(Boolean)];
}

/** RSS of a process and its children, in MB. */
export function rssMb(pid: number): number {
  let kb = 0;
  for (const p of tree(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/** User+system CPU seconds of a process and its children (nginx/HAProxy workers). */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/** A self-signed ECDSA P-256 certificate for localhost in `etc`, the one every front serves. */
export function selfSignedCert(etc: string): { cert: string; key: string } {
  const cert = join(etc, 'cert.pem');
  const key = join(etc, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  return { cert, key };
}

/** The main context every bench's nginx config starts with: one worker, pid and error log named `name` in `dir`. */
export function nginxMain(dir: string, name: string): string {
  return `worker_processes 1; daemon off; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err; events { worker_connections 4096; }`;
}

/**
 * The app (or egress destination) the benches proxy to: nginx, one worker on `cpu`, answering
 * every request with a 257-byte body over keep-alive; TLS with `tls`. Resolves once it accepts.
 */
export async function startNginxApp(dir: string, start: Start, cpu: string, port: number, tls?: { cert: string; key: string }): Promise<ChildProcess> {
  const name = tls ? 'dest' : 'backend';
  const listen = tls ? `127.0.0.1:${port} ssl; ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key};` : `127.0.0.1:${port};`;
  writeFileSync(join(dir, `${name}.conf`), `${nginxMain(dir, name)} http { access_log off; keepalive_requests 100000;
    server { listen ${listen} location / { return 200 '${'x'.repeat(256)}\n'; } } }`);
  const child = start(cpu, bin('nginx')!, ['-c', join(dir, `${name}.conf`), '-p', dir]);
  await waitPort(port, child);
  return child;
}
