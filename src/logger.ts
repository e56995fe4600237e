// Structured JSON logs on stdout. Children are tracked so a reloaded `log.level`
// reaches loggers that plugins already hold (pino copies the level at child creation).
import type { LevelWithSilent, Logger } from 'pino';
import { pino } from './builtin-modules.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

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
  /** `log.format`, read at start. */
  readonly format: LogFormat;
  child(bindings: Record<string, string>): Logger;
  setLevel(level: LevelWithSilent): void;
  forget(child: Logger): void;
}

/**
 * Where log lines go: JSON to `destination` (stdout by default), or through pino-pretty. JSON is
 * the default whatever stdout is (a TTY under `kubectl run -it` still feeds a collector); the
 * formatter is imported only when asked for, so an agent logging JSON never loads it.
 */
export async function logDestination(format: LogFormat, destination?: NodeJS.WritableStream): Promise<NodeJS.WritableStream | undefined> {
  if (format === 'json') return destination;
  const { default: pretty } = await import('pino-pretty');
  return pretty({
    destination: destination ?? 1,
    sync: true,
    colorize: destination ? false : process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    // One line per event, the instance before the message: `[https] listening {"port":8443}`.
    singleLine: true,
    ignore: 'pid,hostname,instance,plugin',
    messageFormat: '{if instance}[{instance}] {end}{msg}',
  });
}

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream, format: LogFormat = 'json'): RootLogger {
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
    format,
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
