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
