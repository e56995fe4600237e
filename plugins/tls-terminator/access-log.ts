// The per-request access log. Same JSON shape and stream (stdout) as the agent's pino lines, but
// formatted by hand into one reused buffer: pino's generic path (object per call, key walk,
// Date per line, one write per line) was ~6 % of the proxy's CPU at a steady 1,000 req/s.
// Lines carry no secret-bearing keys, so the agent's redaction is not needed. The buffer goes
// out in one synchronous write when it holds 16 KiB, 200 ms after its first line, and at stop;
// synchronous so a line can never interleave with the agent's own (also synchronous) lines.
// The timer only runs while lines wait: an idle agent is not woken up. Under `log.format: pretty`
// (a person at a terminal) each line goes through the agent's logger instead, to be formatted
// like every other line; speed does not matter there.
import { writeSync } from 'node:fs';
import type { Logger } from 'pino';

const FLUSH_AT = 16 * 1024;
const CAPACITY = 256 * 1024; // lines beyond this while stdout refuses writes are dropped and counted
const FLUSH_MS = 200;

/** JSON string literal; the test passes only printable ASCII minus `"` and `\`, the common case. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
export const jsonString = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/** The per-connection part of a request line (client, SNI, TLS version, JA4), JSON-escaped. */
export const connectionFields = (client: string, sni: string, tls: string, ja4: string): string =>
  `,"client":${jsonString(client)},"sni":${jsonString(sni)},"tls":${jsonString(tls)},"ja4":${jsonString(ja4)}`;

export class AccessLog {
  private readonly agentLogger: Logger;
  private readonly fd: number;
  private readonly prefix: string;
  private readonly pretty: boolean;
  private buf = Buffer.allocUnsafeSlow(64 * 1024);
  private used = 0;
  private readonly timer: NodeJS.Timeout;
  private armed = true; // the timer starts running: its first, empty flush is harmless
  private closed = false;
  private second = -1;
  private secondText = '';
  /** Lines lost because stdout would not take them (a full non-blocking pipe) and the buffer was full. */
  dropped = 0;

  constructor(agentLogger: Logger, instance: string, plugin: string, fd = 1, pretty = false) {
    this.agentLogger = agentLogger;
    this.pretty = pretty;
    this.fd = fd;
    this.prefix = `,"pid":${process.pid},"instance":${jsonString(instance)},"plugin":${jsonString(plugin)}`;
    this.timer = setTimeout(() => {
      this.armed = false;
      this.flush();
    }, FLUSH_MS).unref(); // created once, re-armed by refresh() when a line waits (a cleared one cannot be)
  }

  /** False when the agent's level is above info (checked per call: levels change on reload). */
  enabled(): boolean {
    return this.agentLogger.isLevelEnabled('info');
  }

  request(method: string, path: string, status: number, bytes: number, ms: number, client: string, sni: string, tls: string, ja4: string, http: string, note?: string): void {
    this.requestOn(connectionFields(client, sni, tls, ja4), method, path, status, bytes, ms, http, note);
  }

  /** `conn`: connectionFields() of the request's connection, built once per connection rather than per line. */
  requestOn(conn: string, method: string, path: string, status: number, bytes: number, ms: number, http: string, note?: string): void {
    this.append(
      `${this.head()},"method":${jsonString(method)},"path":${jsonString(path)},"status":${status},"bytes":${bytes},"ms":${ms}${conn},"http":${jsonString(http)}${note === undefined ? '' : `,"note":${jsonString(note)}`},"msg":"request"}\n`,
    );
  }

  /** tcp mode: one line per connection. */
  connection(client: string, sni: string, tls: string, ja4: string, bytesIn: number, bytesOut: number, ms: number): void {
    this.append(
      `${this.head()},"client":${jsonString(client)},"sni":${jsonString(sni)},"tls":${jsonString(tls)},"ja4":${jsonString(ja4)},"bytesIn":${bytesIn},"bytesOut":${bytesOut},"ms":${ms},"msg":"connection"}\n`,
    );
  }

  /** Writes whatever waits (stop, and the timer). */
  flush(): void {
    let off = 0;
    while (off < this.used) {
      try {
        off += writeSync(this.fd, this.buf, off, this.used - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.used = 0; // stdout is gone (EPIPE, EBADF): nothing to keep the lines for
          return;
        }
        break; // a full pipe: keep the rest for the next flush
      }
    }
    if (off > 0) {
      this.buf.copy(this.buf, 0, off, this.used);
      this.used -= off;
    }
    if (this.used > 0) this.arm();
  }

  /** Flushes; lines logged after this (a straggler during shutdown) are written at once. */
  close(): void {
    clearTimeout(this.timer);
    this.closed = true;
    this.flush();
  }

  /** `{"level":"info","time":"…"` plus the fixed fields; the ISO text of the current second is reused. */
  private head(): string {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.secondText = new Date(second * 1000).toISOString().slice(0, 20); // "2026-11-24T14:00:00."
    }
    const msPart = now - second * 1000;
    return `{"level":"info","time":"${this.secondText}${msPart < 10 ? '00' : msPart < 100 ? '0' : ''}${msPart}Z"${this.prefix}`;
  }

  private append(line: string): void {
    if (this.pretty) {
      const { level, time, pid, instance, plugin, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
      this.agentLogger.info(fields, String(msg));
      return;
    }
    const worst = line.length * 3; // UTF-8 bytes per UTF-16 unit, at most
    if (this.used + worst > this.buf.length) {
      this.flush();
      if (this.used + worst > this.buf.length) {
        if (this.buf.length * 2 <= CAPACITY && this.used + worst <= this.buf.length * 2) {
          const bigger = Buffer.allocUnsafeSlow(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, this.used);
          this.buf = bigger;
        } else {
          this.dropped++;
          return;
        }
      }
    }
    this.used += this.buf.write(line, this.used);
    if (this.used >= FLUSH_AT || this.closed) this.flush();
    else this.arm();
  }

  private arm(): void {
    if (this.armed || this.closed) return;
    this.armed = true;
    this.timer.refresh();
  }
}

export function createAccessLog(agentLogger: Logger, instance: string, plugin: string, pretty = false): AccessLog {
  return new AccessLog(agentLogger, instance, plugin, 1, pretty);
}
