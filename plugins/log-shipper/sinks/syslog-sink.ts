// RFC 5424 messages, RFC 6587 octet-counted framing ("LEN SP MSG") over TCP, or TLS (RFC 5425).
// Labels and flags travel as structured data; the line is MSG, so newlines in a multiline
// event survive (octet counting needs no delimiter). A message longer than the receiver takes
// (rsyslog's default is 8k) does not just lose itself: rsyslog loses the framing and every
// later message on the connection, while TCP reports them all written. So an event longer
// than maxMessageSize goes as several messages flagged `split` whose MSGs add up to the line,
// as rsyslog's own imfile does by default with a line over its limit, and as the shipper does
// with lines over maxLineSize: nothing is dropped, and the pieces can be joined again.
import { hostname } from 'node:os';
import type { ByteWriter } from '../byte-writer.ts';
import { FLAG_SPLIT, type LogEvent, type Payload, type Sink, flagNames } from '../event.ts';
import type { TlsConfig } from '../config-schema.ts';
import type { SinkDeps } from './sink.ts';
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
  /** Longest SYSLOG-MSG in bytes (the frame without its "LEN SP"). */
  maxMessageSize: number;
  tls?: TlsConfig | undefined;
}

/** Bytes a piece of MSG may always carry, even when the header alone fills maxMessageSize (one UTF-8 character). */
const MIN_PIECE = 4;

export class SyslogSink implements Sink {
  private readonly conn: TcpConnection;
  private readonly head: string;
  private readonly headTail: string;
  private readonly labelsSd: string;
  private readonly maxMessageSize: number;
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
    this.maxMessageSize = config.maxMessageSize;
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
    if (len > this.maxMessageSize) {
      if (raw) this.encodeSplit(e.flags, raw, e.rawStart, e.rawEnd, w);
      else {
        const b = Buffer.from(e.message);
        this.encodeSplit(e.flags, b, 0, b.length, w);
      }
      return;
    }
    w.decimal(len);
    w.byte(32);
    w.bytes(this.prefix);
    w.bytes(sdEnd);
    if (raw) w.bytes(raw, e.rawStart, e.rawEnd);
    else w.utf8(e.message);
  }

  /** The MSG bytes [start, end) as several frames within maxMessageSize, cut at UTF-8 character starts. */
  private encodeSplit(flags: number, body: Buffer, start: number, end: number, w: ByteWriter): void {
    const sdEnd = Buffer.from(` flags="${flagNames(flags | FLAG_SPLIT)!.join(',')}"] `);
    const head = this.prefix.length + sdEnd.length;
    const room = Math.max(MIN_PIECE, this.maxMessageSize - head);
    while (start < end) {
      let cut = Math.min(end, start + room);
      // Never between the bytes of one character: back up to the first byte of the one cut.
      while (cut < end && cut > start + 1 && (body[cut]! & 0xc0) === 0x80) cut--;
      w.decimal(head + cut - start);
      w.byte(32);
      w.bytes(this.prefix);
      w.bytes(sdEnd);
      w.bytes(body, start, cut);
      start = cut;
    }
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
