// The three ways of telling the app: a signal, an HTTP call, a command. Each returns a
// function that resolves when the app was told, or throws ERR_SIDEKICK_SYNC_RELOAD with an error
// that says what to change.
import { readFile } from 'node:fs/promises';
import { backoffDelay, sleep } from '../../src/plugin-api.ts';
import type { ReloadConfig } from './config-schema.ts';
import { ConfigSyncError } from './errors.ts';
import { findProcesses } from './find-process.ts';
import { runCommand } from './run-command.ts';

export type ReloadAction = (signal: AbortSignal) => Promise<string>;

const RETRY_INITIAL_MS = 200;
const RETRY_MAX_MS = 5000;

export function createReloadAction(config: ReloadConfig, target: string, resolvePath: (p: string) => string): ReloadAction {
  if (config.signal) {
    const { name, pidFile, process: processName } = config.signal;
    const signalName = name as NodeJS.Signals;
    if (pidFile) {
      const file = resolvePath(pidFile);
      return async () => {
        const pid = await readPid(file);
        sendSignal(pid, signalName, `pid ${pid} from ${file}`);
        return `${signalName} sent to pid ${pid}`;
      };
    }
    return async () => {
      const pids = await findProcesses(processName!);
      if (pids.length === 0) {
        throw new ConfigSyncError(
          'ERR_SIDEKICK_SYNC_RELOAD',
          `no process named "${processName}" is visible in /proc; the pod needs shareProcessNamespace: true (and the name must match comm or argv[0])`,
        );
      }
      for (const pid of pids) sendSignal(pid, signalName, `process "${processName}" (pid ${pid})`);
      return `${signalName} sent to ${processName} pid ${pids.join(',')}`;
    };
  }
  if (config.http) {
    const http = config.http;
    return async (signal) => {
      let lastError = '';
      for (let attempt = 0; attempt <= http.retries; attempt++) {
        // The core's jittered backoff, so a fleet of pods does not retry its apps in step.
        if (attempt > 0) await sleep(backoffDelay(attempt - 1, RETRY_INITIAL_MS, RETRY_MAX_MS), signal);
        if (signal.aborted) break;
        try {
          const res = await fetch(http.url, {
            method: http.method,
            headers: http.headers,
            signal: AbortSignal.any([signal, AbortSignal.timeout(http.timeout)]),
          });
          await res.body?.cancel();
          const ok = http.expectedStatus === undefined ? res.status >= 200 && res.status < 300 : res.status === http.expectedStatus;
          if (ok) return `${http.method} ${http.url}: HTTP ${res.status}`;
          lastError = `HTTP ${res.status}`;
        } catch (err) {
          const e = err as Error & { cause?: { code?: string } };
          lastError = e.name === 'TimeoutError' ? `no answer within ${http.timeout} ms` : (e.cause?.code ?? e.message);
        }
      }
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_RELOAD', `reload ${http.method} ${http.url} failed after ${http.retries + 1} attempt(s): ${lastError}`);
    };
  }
  const exec = config.exec!;
  return async (signal) => {
    const argv = exec.command.map((a) => a.replaceAll('{dir}', target));
    const result = await runCommand(argv, { timeout: exec.timeout, signal });
    if (result.timedOut) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_COMMAND_TIMEOUT', `reload command ${JSON.stringify(exec.command[0])} ${result.reason}`);
    if (!result.ok) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_RELOAD', `reload command ${JSON.stringify(exec.command[0])} failed: ${result.reason}`);
    return `command ${exec.command[0]} succeeded`;
  };
}

// An app writes its pid file with open(O_TRUNC) + write(): a read in between finds it empty.
const EMPTY_PID_FILE_RETRIES = 5;
const EMPTY_PID_FILE_WAIT_MS = 20;

async function readPid(file: string): Promise<number> {
  let text = '';
  try {
    for (let attempt = 0; ; attempt++) {
      text = await readFile(file, 'utf8');
      if (text.trim() !== '' || attempt === EMPTY_PID_FILE_RETRIES) break;
      await sleep(EMPTY_PID_FILE_WAIT_MS);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // A native sidecar publishes the first version before the app starts: nothing to tell yet.
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_APP_NOT_STARTED', `pidFile ${file} does not exist yet: the app has not started, and will read this version when it does`);
    }
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_RELOAD', `cannot read pidFile ${file}: ${(err as Error).message} (is the app running and writing it to a shared volume?)`);
  }
  if (text.trim() === '') {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_RELOAD', `pidFile ${file} is empty (still empty after ${EMPTY_PID_FILE_RETRIES * EMPTY_PID_FILE_WAIT_MS} ms)`);
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_RELOAD', `pidFile ${file} does not hold a pid: ${JSON.stringify(text.slice(0, 40))}`);
  return pid;
}

function sendSignal(pid: number, signal: NodeJS.Signals, what: string): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') {
      throw new ConfigSyncError(
        'ERR_SIDEKICK_SYNC_RELOAD',
        `cannot send ${signal} to ${what}: no such process (ESRCH). Stale pid file, or the app runs in another container: set shareProcessNamespace: true on the pod`,
        { cause: err },
      );
    }
    if (code === 'EPERM') {
      throw new ConfigSyncError(
        'ERR_SIDEKICK_SYNC_RELOAD',
        `cannot send ${signal} to ${what}: permission denied (EPERM). Run sidekick as the app's user (same securityContext.runAsUser) with shareProcessNamespace: true`,
        { cause: err },
      );
    }
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_RELOAD', `cannot send ${signal} to ${what}: ${(err as Error).message}`, { cause: err });
  }
}
