// Runs a short command (validation, exec reload) with a timeout; keeps only the tail of its
// output for the error message, so a chatty command cannot grow memory. The command gets its
// own process group, and the timeout (or an abort) kills the whole group: a grandchild that
// hangs, or keeps the output pipes open, must not stall the plugin. The result is settled at
// the timeout whatever the pipes do.
import { spawn } from 'node:child_process';

const TAIL_BYTES = 2048;

export interface CommandResult {
  ok: boolean;
  /** Why it failed: exit code or signal plus the tail of stderr/stdout. */
  reason: string;
  /** It did not finish within the timeout (its process group was killed). */
  timedOut?: boolean;
  /** Stopped because the caller aborted (agent stopping), not a verdict on the input. */
  aborted?: boolean;
}

export function runCommand(argv: readonly string[], opts: { timeout: number; signal: AbortSignal; cwd?: string }): Promise<CommandResult> {
  return new Promise((resolve) => {
    if (opts.signal.aborted) return resolve({ ok: false, aborted: true, reason: 'aborted before it started' });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let open = 2; // stdout, stderr
    let settled = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the whole group is already gone.
      }
    };
    const finish = (result: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      // Cut short, or a grandchild still holds the pipes: the whole group goes. (Not after a
      // clean end: the group is empty then, and its id could in theory be another's by now.)
      if (!exit || open > 0) killGroup();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(result);
    };
    const verdict = (): CommandResult => {
      const { code, signal } = exit!;
      if (code === 0) return { ok: true, reason: '' };
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      const out = tail.trim();
      return { ok: false, reason: out ? `${how}: ${out}` : how };
    };
    const timer = setTimeout(() => {
      if (exit) return finish(verdict()); // exited; only a grandchild kept the pipes open
      finish({ ok: false, timedOut: true, reason: `did not finish within ${opts.timeout} ms (timeout; process group killed)${tail.trim() ? `: ${tail.trim()}` : ''}` });
    }, opts.timeout);
    const onAbort = () => finish({ ok: false, aborted: true, reason: 'aborted (agent stopping)' });
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const onClosed = () => {
      if (--open === 0 && exit) finish(verdict());
    };
    child.stdout.on('data', keep).once('close', onClosed);
    child.stderr.on('data', keep).once('close', onClosed);
    child.once('error', (err) => finish({ ok: false, reason: `${argv[0]}: ${err.message}` }));
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      if (open === 0) finish(verdict());
    });
  });
}
