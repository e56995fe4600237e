// Starts the real agent (bin/sidekick.js) as a child process from a config file,
// the way a pod would, and waits until it logs that it is ready.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach } from 'vitest';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = resolve(import.meta.dirname, '../../bin/sidekick.js');

export interface AgentProcess {
  child: ChildProcess;
  /** Base URL of the admin endpoint, e.g. http://127.0.0.1:40123 */
  adminUrl: string;
  /** Parsed JSON log lines seen so far (stdout). */
  logs: Array<Record<string, any>>;
  stderr: () => string;
  /** Resolves with the first log line matching; rejects after timeoutMs. */
  waitForLog(match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  /** Sends SIGTERM (unless already exited) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  status(): Promise<any>;
}

export { freePort } from './free-port.ts';

export async function tempDir(prefix = 'sidekick-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Writes `yaml` to `dir/sidekick.yaml` and starts the agent on it. Admin should listen on 127.0.0.1:0. */
export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  waitReady?: boolean;
  /** Flags for node itself, before the agent's script. */
  nodeArgs?: string[];
}

export async function startAgent(dir: string, yaml: string, opts: SpawnOptions = {}): Promise<AgentProcess> {
  const file = join(dir, 'sidekick.yaml');
  await writeFile(file, yaml);
  return spawnAgent(['run', '--config', file], opts);
}

export function spawnAgent(args: string[], opts: SpawnOptions = {}): Promise<AgentProcess> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, any>> = [];
  const waiters: Array<{ match: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }> = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: Record<string, any>;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = { raw: line };
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.match(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((res) => child.once('exit', (code, sig) => res(code ?? (sig ? 128 : null))));

  const waitForLog = (match: (l: Record<string, any>) => boolean, timeoutMs = 15_000) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, any>>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-20))}`));
      }, timeoutMs);
      const w = { match, resolve: (l: Record<string, any>) => (clearTimeout(timer), resolve(l)) };
      waiters.push(w);
      void exited.then(() => setTimeout(() => {
        if (waiters.includes(w)) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`agent exited before the expected log line; stderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-20))}`));
        }
      }, 50));
    });
  };

  const agent: AgentProcess = {
    child,
    adminUrl: '',
    logs,
    stderr: () => stderr,
    waitForLog,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async status() {
      const res = await fetch(`${agent.adminUrl}/status`);
      return res.json();
    },
  };
  if (opts.waitReady === false) return Promise.resolve(agent);
  return waitForLog((l) => typeof l.msg === 'string' && l.msg.endsWith(' ready') && typeof l.admin === 'string').then(
    (ready) => {
      agent.adminUrl = `http://${ready.admin}`;
      return agent;
    },
    async (err) => {
      await agent.stop('SIGKILL');
      throw err;
    },
  );
}

/**
 * A temp directory per test, and every agent started through it killed afterwards.
 * Call at the top level of a test file.
 */
export function agentSandbox() {
  let dir: { path: string; cleanup: () => Promise<void> } | undefined;
  const agents: AgentProcess[] = [];
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop('SIGKILL')));
    await dir?.cleanup();
  });
  const track = (a: AgentProcess) => (agents.push(a), a);
  return {
    get dir(): string {
      return dir!.path;
    },
    start: (yaml: string, opts?: { env?: NodeJS.ProcessEnv; waitReady?: boolean }) => startAgent(dir!.path, yaml, opts).then(track),
    spawn: (args: string[], opts?: { env?: NodeJS.ProcessEnv; waitReady?: boolean }) => spawnAgent(args, opts).then(track),
  };
}
