// Structured JSON logs on stdout. Children are tracked so a reloaded `log.level`
// reaches loggers that plugins already hold (pino copies the level at child creation).
import type { LevelWithSilent, Logger } from 'pino';
import { pino } from './builtin-modules.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Fields that may carry credentials, hidden wherever a log call names them. Serializers, not
// pino's path redaction: wildcard paths cost ~10x in throughput on the access-log hot path.
const CREDENTIAL_KEYS = [
  'password', 'secret', 'token', 'authorization', 'accessKeyId', 'secretAccessKey', 'sessionToken',
  'privateKey', 'credentials', 'apiKey', 'cookie',
];
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-amz-security-token']);
const hidden = () => '[redacted]';
const serializers: Record<string, (value: any) => unknown> = {
  ...Object.fromEntries(CREDENTIAL_KEYS.map((k) => [k, hidden])),
  headers: (headers) => {
    if (!headers || typeof headers !== 'object') return headers;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(headers)) out[k] = SECRET_HEADERS.has(k.toLowerCase()) ? '[redacted]' : v;
    return out;
  },
  err: pino.stdSerializers.err,
};

export interface RootLogger {
  logger: Logger;
  child(bindings: Record<string, string>): Logger;
  setLevel(level: LevelWithSilent): void;
  forget(child: Logger): void;
}

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): RootLogger {
  const logger = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
  const children = new Set<Logger>();
  return {
    logger,
    child(bindings) {
      const c = logger.child(bindings);
      children.add(c);
      return c;
    },
    setLevel(l) {
      logger.level = l;
      for (const c of children) c.level = l;
    },
    forget(c) {
      children.delete(c);
    },
  };
}

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi;

/** Strips `user:password@` from URLs inside a message bound for logs or /status. */
export function redactUrlCredentials(message: string): string {
  return message.replace(URL_CREDENTIALS, '$1[redacted]@');
}
