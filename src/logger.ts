// Structured JSON logs on stdout. Children are tracked so a reloaded `log.level`
// reaches loggers that plugins already hold (pino copies the level at child creation).
import { pino, type Logger, type LevelWithSilent } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// Keys that may carry credentials anywhere in a logged object.
const REDACT = [
  'password', 'secret', 'token', 'authorization', 'accessKeyId', 'secretAccessKey', 'sessionToken',
  'privateKey', 'credentials', 'apiKey', 'cookie',
].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

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
      redact: { paths: REDACT, censor: '[redacted]' },
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
