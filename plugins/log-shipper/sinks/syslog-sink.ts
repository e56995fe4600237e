// RFC 5424 messages, RFC 6587 octet-counted framing ("LEN SP MSG") over TCP, or TLS (RFC 5425).
// Labels and flags travel as structured data; the line is MSG, so newlines in a multiline
// event survive (octet counting needs no delimiter).
import { hostname } from 'node:os';
import type { ByteWriter } from '../byte-writer.ts';
import { type LogEvent, type Payload, type Sink, flagNames } from '../event.ts';
import type { TlsConfig } from '../config-schema.ts';
import type { SinkDeps } from './create-sink.ts';
import { TcpConnection } from './tcp-connection.ts';

// 32473 is the private enterprise number reserved for documentation (RFC 5612).
const SD_ID = 'sidekick@32473';
const SD_END = Buffer.from('] ');

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
  private readonly headTail: string;
  private readonly labelsSd: string;
  private lastFile: string | undefined;
  private lastTime = -1;
  /** Everything before MSG for the current (time, file), pre-encoded (bytes are copied per line, no string written). */
  private prefix = Buffer.alloc(0);

  constructor(config: SyslogConfig, deps: SinkDeps) {
    this.conn = new TcpConnection(config.address, config.timeout, config.tls, deps.ctx);
    const host = header(config.hostname ?? hostname(), 255);
    this.head = `<${config.facility * 8 + config.severity}>1 `;
    this.headTail = ` ${host} ${header(config.appName, 48)} - - `;
    let sd = '';
    for (const [k, v] of Object.entries(deps.labels)) sd += ` ${sdName(k)}="${sdValue(v)}"`;
    this.labelsSd = sd;
  }

  /** One frame: "MSG-LEN SP SYSLOG-MSG", MSG-LEN in bytes. */
  encode(e: LogEvent, w: ByteWriter): void {
    if (e.file !== this.lastFile || e.time !== this.lastTime) {
      this.lastFile = e.file;
      this.lastTime = e.time;
      this.prefix = Buffer.from(`${this.head}${new Date(e.time).toISOString()}${this.headTail}[${SD_ID} file="${sdValue(e.file)}"${this.labelsSd}`);
    }
    const flags = flagNames(e.flags);
    const sdEnd = flags ? Buffer.from(` flags="${flags.join(',')}"] `) : SD_END;
    const raw = e.raw;
    const len = this.prefix.length + sdEnd.length + (raw ? e.rawEnd - e.rawStart : Buffer.byteLength(e.message));
    w.decimal(len);
    w.byte(32);
    w.bytes(this.prefix);
    w.bytes(sdEnd);
    if (raw) w.bytes(raw, e.rawStart, e.rawEnd);
    else w.utf8(e.message);
  }

  deadLetterRecord(slice: Buffer): string {
    return JSON.stringify(slice.toString('utf8', slice.indexOf(32) + 1));
  }

  send(p: Payload, signal: AbortSignal): Promise<void> {
    return this.conn.write(p.bytes, signal);
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
