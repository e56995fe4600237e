// Fluentd forward protocol v1, PackedForward mode (optionally CompressedPackedForward):
// [tag, bin(concatenated [EventTime, record]), {chunk, size}]. The server must answer
// {"ack": chunk}; no ack within ackTimeout means the connection is dropped and the same
// chunk is sent again (same id, so a server can de-duplicate).
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { TlsConfig } from '../config-schema.ts';
import { type LogEvent, SinkError, flagNames } from '../event.ts';
import type { Sink } from '../event.ts';
import type { SinkDeps } from './create-sink.ts';
import { Packer, readStringMap } from './msgpack.ts';
import { TcpConnection } from './tcp-connection.ts';

export interface ForwardConfig {
  address: string;
  tag: string;
  ackTimeout: number;
  gzip: boolean;
  tls?: TlsConfig | undefined;
}

export class ForwardSink implements Sink {
  private readonly conn: TcpConnection;
  private readonly config: ForwardConfig;
  private readonly labels: Array<[string, string]>;
  private readonly packer = new Packer();
  private readonly chunkIds = new WeakMap<LogEvent[], string>();
  private received: Buffer = Buffer.alloc(0);
  private waiting: { chunk: string; resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(config: ForwardConfig, deps: SinkDeps) {
    this.config = config;
    this.conn = new TcpConnection(config.address, config.ackTimeout, config.tls, deps.ctx);
    this.labels = Object.entries(deps.labels);
  }

  encode(events: LogEvent[], chunk: string): Buffer {
    const p = this.packer;
    p.reset();
    for (const e of events) {
      p.arrayHeader(2);
      p.eventTime(e.time);
      const flags = flagNames(e.flags);
      const fields = e.fields ? Object.entries(e.fields) : [];
      p.mapHeader(2 + this.labels.length + fields.length + (flags ? 1 : 0));
      for (const [k, v] of fields) {
        p.str(k);
        p.value(v);
      }
      for (const [k, v] of this.labels) {
        p.str(k);
        p.str(v);
      }
      p.str('file');
      p.str(e.file);
      p.str('message');
      p.str(e.message);
      if (flags) {
        p.str('flags');
        p.value(flags);
      }
    }
    let entries = p.take();
    if (this.config.gzip) entries = gzipSync(entries, { level: 1 });
    p.reset();
    p.arrayHeader(3);
    p.str(this.config.tag);
    p.bin(entries);
    p.value(this.config.gzip ? { chunk, size: events.length, compressed: 'gzip' } : { chunk, size: events.length });
    return p.take();
  }

  async send(events: LogEvent[], signal: AbortSignal): Promise<void> {
    let chunk = this.chunkIds.get(events);
    if (!chunk) this.chunkIds.set(events, (chunk = randomBytes(16).toString('base64')));
    const frame = this.encode(events, chunk);
    const acked = new Promise<void>((resolve, reject) => (this.waiting = { chunk: chunk!, resolve, reject }));
    acked.catch(() => {});
    const timer = setTimeout(() => {
      this.conn.destroy();
      this.waiting?.reject(new SinkError(`no ack for chunk ${chunk} within ${this.config.ackTimeout} ms`, { code: 'ERR_FORWARD_ACK_TIMEOUT', retryable: true }));
    }, this.config.ackTimeout);
    try {
      this.received = Buffer.alloc(0);
      await this.conn.write(frame, signal, (data) => this.onData(data));
      await acked;
    } finally {
      clearTimeout(timer);
      this.waiting = undefined;
    }
  }

  private onData(data: Buffer): void {
    this.received = this.received.length ? Buffer.concat([this.received, data]) : data;
    for (;;) {
      let reply;
      try {
        reply = readStringMap(this.received);
      } catch (err) {
        this.conn.destroy();
        this.waiting?.reject(err as Error);
        return;
      }
      if (!reply) return;
      this.received = this.received.subarray(reply.used);
      // An ack for an older chunk (resent after a timeout) is ignored.
      if (this.waiting && reply.value.ack === this.waiting.chunk) this.waiting.resolve();
    }
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
