// Runs a short command (validation, exec reload) with a timeout; keeps only the tail of its
// output for the error message, so a chatty command cannot grow memory.
import { spawn } from 'node:child_process';

const TAIL_BYTES = 2048;

export interface CommandResult {
  ok: boolean;
  /** Why it failed: exit code or signal plus the tail of stderr/stdout. */
  reason: string;
}

export function runCommand(argv: readonly string[], opts: { timeout: number; signal: AbortSignal; cwd?: string }): Promise<CommandResult> {
  return new Promise((resolve) => {
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeout,
      killSignal: 'SIGKILL',
      signal: opts.signal,
    });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (err) => resolve({ ok: false, reason: `${argv[0]}: ${err.message}` }));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve({ ok: true, reason: '' });
      const how = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ' (timeout?)' : ''}` : `exit code ${code}`;
      const out = tail.trim();
      resolve({ ok: false, reason: out ? `${how}: ${out}` : how });
    });
  });
}
