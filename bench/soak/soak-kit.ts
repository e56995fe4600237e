// Shared by the soak runs: a seeded random source (the seed is printed, so a failing run can be
// replayed), the real agent started from a config file, and its peak memory from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const AGENT_BIN = resolve(import.meta.dirname, '../../bin/sidekick.js');

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private s: number;
  readonly seed: number;
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.s = this.seed;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A seed from SOAK_SEED (to replay a run) or a fresh one. */
export function seedFromEnv(): number {
  const env = process.env.SOAK_SEED;
  return env ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

export interface Agent {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  /** Resolves when the agent logged that it is ready (ms since spawn). */
  ready: Promise<number>;
  exited: Promise<void>;
  output: () => string;
}

/** Starts `bin/sidekick.js run --config file` with the project's Node. */
export function startAgent(config: string, logFile?: string): Agent {
  const startedAt = performance.now();
  const child = spawn(process.execPath, [AGENT_BIN, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ready = new Promise<number>((res, rej) => {
    const onData = (c: string) => {
      // Only the tail matters (errors); the ready line is looked for in each chunk's neighbourhood.
      out = (out + c).slice(-20_000);
      if (/"msg":"sidekick [^"]* ready"/.test(out)) {
        child.stdout!.off('data', onData);
        res(performance.now() - startedAt);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    void exited.then(() => rej(new Error(`agent exited before it was ready: ${out.slice(-2000)}`)));
  });
  ready.catch(() => undefined);
  // Keep draining after ready, so a chatty agent never blocks on a full pipe.
  child.stdout!.on('data', (c: string) => (out = (out + c).slice(-20_000)));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-20_000)));
  if (logFile) {
    // Everything the agent says, across restarts, for a run kept to be looked at (SOAK_KEEP).
    const save = (c: string) => appendFileSync(logFile, c);
    child.stdout!.on('data', save);
    child.stderr!.on('data', save);
  }
  return { child, pid: child.pid!, startedAt, ready, exited, output: () => out };
}

export async function kill(agent: Agent, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill(signal);
  await agent.exited;
}

/** Peak resident set of a live process (VmHWM), in bytes; 0 if it is gone. */
export function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
