// Errors with a stable `code`, so logs, /status and tests can tell failures apart
// without matching message text.
export type ConfigSyncErrorCode =
  | 'CONFIG_SYNC_SOURCE'
  /** The source moved on during the poll (a ConfigMap swap): poll again at once. */
  | 'CONFIG_SYNC_SOURCE_CHANGED'
  | 'CONFIG_SYNC_TIMEOUT'
  | 'CONFIG_SYNC_UNSAFE_PATH'
  | 'CONFIG_SYNC_LIMIT'
  | 'CONFIG_SYNC_INCOMPLETE'
  | 'CONFIG_SYNC_VALIDATION'
  | 'CONFIG_SYNC_PUBLISH'
  /** Writing the target (staging, linking) failed: full disk, read-only volume, permissions. */
  | 'CONFIG_SYNC_TARGET'
  /** Writing the state in dataDir failed: the version is refused, or (after the swap) the error is shown. */
  | 'CONFIG_SYNC_STATE'
  /** validate.command or reload.exec did not finish in time (its whole process group is killed). */
  | 'CONFIG_SYNC_COMMAND_TIMEOUT'
  | 'CONFIG_SYNC_RELOAD'
  /** No pid file yet: the app has not started and will read the published version when it does. */
  | 'CONFIG_SYNC_APP_NOT_STARTED'
  | 'CONFIG_SYNC_UNHEALTHY';

export class ConfigSyncError extends Error {
  readonly code: ConfigSyncErrorCode;
  constructor(code: ConfigSyncErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigSyncError';
    this.code = code;
  }
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'CONFIG_SYNC_SOURCE';
}

/** Errors of the local disk, whichever file they came from: never the source's fault. */
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EFBIG']);

/**
 * An error met while building a version in `target`: a file-system error about the target
 * (a path inside it, or a full or read-only disk) becomes CONFIG_SYNC_TARGET; anything else
 * (the source's errors, already-coded errors) is returned as it is.
 */
export function asTargetError(err: unknown, target: string): unknown {
  if (err instanceof ConfigSyncError) return err;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (typeof e?.code !== 'string' || typeof e.syscall !== 'string') return err;
  const inTarget = [e.path, e.dest].some((p) => typeof p === 'string' && (p === target || p.startsWith(`${target}/`)));
  if (!inTarget && !DISK_ERRORS.has(e.code)) return err;
  return new ConfigSyncError('CONFIG_SYNC_TARGET', `cannot write the target ${target}: ${e.message}`, { cause: err });
}
