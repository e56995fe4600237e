// Errors with a stable `code`, so logs, /status and tests can tell failures apart
// without matching message text.
import { type ErrorCode, SidekickError } from '../../src/plugin-api.ts';

/** config-sync's codes: their meanings are in the catalogue (src/errors.ts, docs/errors.md). */
export type ConfigSyncErrorCode = Extract<ErrorCode, `ERR_SIDEKICK_SYNC_${string}`>;

export class ConfigSyncError extends SidekickError<ConfigSyncErrorCode> {
  constructor(code: ConfigSyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConfigSyncError';
  }
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ERR_SIDEKICK_SYNC_SOURCE';
}

/** Errors of the local disk, whichever file they came from: never the source's fault. */
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EFBIG']);

/**
 * An error met while building a version in `target`: a file-system error about the target
 * (a path inside it, or a full or read-only disk) becomes ERR_SIDEKICK_SYNC_TARGET; anything else
 * (the source's errors, already-coded errors) is returned as it is.
 */
export function asTargetError(err: unknown, target: string): unknown {
  if (err instanceof ConfigSyncError) return err;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (typeof e?.code !== 'string' || typeof e.syscall !== 'string') return err;
  const inTarget = [e.path, e.dest].some((p) => typeof p === 'string' && (p === target || p.startsWith(`${target}/`)));
  if (!inTarget && !DISK_ERRORS.has(e.code)) return err;
  return new ConfigSyncError('ERR_SIDEKICK_SYNC_TARGET', `cannot write the target ${target}: ${e.message}`, { cause: err });
}
