// A real child process standing in for the app, named by argv[0] as a container's process is.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

const SCRIPT = resolve(import.meta.dirname, 'fixtures/busy-app.mjs');

export interface FakeApp {
  child: ChildProcess;
  pid: number;
  /** Sends a command ("alloc 64", "open 50", "burn 300") and resolves once the app has done it. */
  send(command: string): Promise<void>;
  kill(): Promise<void>;
}

/** Starts the app as `name` (argv[0]) with `maxFds` as its RLIMIT_NOFILE soft and hard limit. */
export async function startFakeApp(name: string, maxFds: number, openTarget = SCRIPT): Promise<FakeApp> {
  const child = spawn('bash', ['-c', `ulimit -n ${maxFds} && exec -a ${name} "${process.execPath}" "${SCRIPT}" "${openTarget}"`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`${name} exited`);
    return r.value;
  };
  if ((await next()) !== 'ready') throw new Error(`${name} did not start`);
  return {
    child,
    pid: child.pid!,
    async send(command) {
      child.stdin!.write(`${command}\n`);
      if ((await next()) !== 'done') throw new Error(`${name} did not do ${command}`);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export const uniqueName = () => `am${process.pid % 10000}x${Math.floor(Math.random() * 1e6)}`;
