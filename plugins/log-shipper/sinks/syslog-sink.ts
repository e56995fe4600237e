// RFC 5424 messages, RFC 6587 octet-counted framing ("LEN SP MSG") over TCP, or TLS (RFC 5425).
// Labels and flags travel as structured data; the line is MSG, so newlines in a multiline
// event survive (octet counting needs no delimiter).
import { hostname } from 'node:os';
import { type LogEvent, flagNames } from '../event.ts';
import type { Sink } from '../event.ts';
import type { TlsConfig } from '../config-schema.ts';
import type { SinkDeps } from './create-sink.ts';
import { TcpConnection } from './tcp-connection.ts';

// 32473 is the private enterprise number reserved for documentation (RFC 5612).
const SD_ID = 'sidekick@32473';

export interface SyslogConfig {
  address: string;
  facility: number;
  severity: number;
  appName: string;
  hostname?: string | undefined;
  timeout: number;
  tls?: TlsConfig | undefined;
}

export class SyslogSink implements Sink {
  private readonly conn: TcpConnection;
  private readonly head: string;
  private readonly labelsSd: string;

  constructor(config: SyslogConfig, deps: SinkDeps) {
    this.conn = new TcpConnection(config.address, config.timeout, config.tls, deps.ctx);
    const host = header(config.hostname ?? hostname(), 255);
    this.head = `<${config.facility * 8 + config.severity}>1 `;
    this.headTail = ` ${host} ${header(config.appName, 48)} - - `;
    let sd = '';
    for (const [k, v] of Object.entries(deps.labels)) sd += ` ${sdName(k)}="${sdValue(v)}"`;
    this.labelsSd = sd;
  }

  private readonly headTail: string;
  private lastFile = '';
  private lastFileSd = '';

  async send(events: LogEvent[], signal: AbortSignal): Promise<void> {
    let out = '';
    for (const e of events) {
      const msg = this.format(e);
      out += `${Buffer.byteLength(msg)} ${msg}`;
    }
    await this.conn.write(out, signal);
  }

  format(e: LogEvent): string {
    if (e.file !== this.lastFile) {
      this.lastFile = e.file;
      this.lastFileSd = sdValue(e.file);
    }
    let sd = `[${SD_ID} file="${this.lastFileSd}"${this.labelsSd}`;
    const flags = flagNames(e.flags);
    if (flags) sd += ` flags="${flags.join(',')}"`;
    return `${this.head}${new Date(e.time).toISOString()}${this.headTail}${sd}] ${e.message}`;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

/** HOSTNAME / APP-NAME: printable US-ASCII without spaces, bounded; NILVALUE when empty. */
function header(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** SD-NAME: printable ASCII except = SP ] " ; at most 32. */
function sdName(s: string): string {
  return s.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32) || '_';
}

/** PARAM-VALUE escapes ", \ and ]. */
function sdValue(s: string): string {
  return s.replace(/["\\\]]/g, '\\$&');
}
