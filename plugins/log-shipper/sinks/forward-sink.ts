// Fluentd forward protocol v1, PackedForward mode (optionally CompressedPackedForward):
// [tag, bin(concatenated [EventTime, record]), {chunk, size}]. Events are encoded as the
// entries themselves; the envelope is added at send time. The server must answer
// {"ack": chunk}; no ack within ackTimeout means the connection is dropped and the same
// chunk is sent again (same id, so a server can de-duplicate).
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ByteWriter } from '../byte-writer.ts';
import type { TlsConfig } from '../config-schema.ts';
import { type LogEvent, type Payload, type Sink, SinkError, flagNames } from '../event.ts';
import type { SinkDeps } from './sink.ts';
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
  private readonly chunkIds = new WeakMap<Buffer, string>();
  private received: Buffer = Buffer.alloc(0);
  private waiting: { chunk: string; resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(config: ForwardConfig, deps: SinkDeps) {
    this.config = config;
    this.conn = new TcpConnection(config.address, config.ackTimeout, config.tls, deps.ctx);
    this.labels = Object.entries(deps.labels);
    this.conn.onClose = () =>
      this.waiting?.reject(new SinkError('forward server closed the connection before acknowledging', { code: 'ERR_SIDEKICK_LOGS_FORWARD_CLOSED', retryable: true }));
  }

  encode(e: LogEvent, w: ByteWriter): void {
    const p = new Packer(w);
    p.arrayHeader(2);
    p.eventTime(e.time, e.nanos);
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
    if (e.raw) p.strBytes(e.raw, e.rawStart, e.rawEnd);
    else p.str(e.message);
    if (flags) {
      p.str('flags');
      p.value(flags);
    }
  }

  /** An entry is self-contained msgpack: keep it as base64 in the dead-letter file. */
  deadLetterRecord(slice: Buffer): string {
    return JSON.stringify({ msgpackBase64: slice.toString('base64') });
  }

  frame(p: Payload, chunk: string): Buffer {
    const entries = this.config.gzip ? gzipSync(p.bytes, { level: 1 }) : p.bytes;
    const w = new ByteWriter(entries.length + 128);
    const pk = new Packer(w);
    pk.arrayHeader(3);
    pk.str(this.config.tag);
    pk.bin(entries);
    pk.value(this.config.gzip ? { chunk, size: p.count, compressed: 'gzip' } : { chunk, size: p.count });
    return w.view();
  }

  async send(p: Payload, signal: AbortSignal): Promise<void> {
    let chunk = this.chunkIds.get(p.bytes);
    if (!chunk) this.chunkIds.set(p.bytes, (chunk = randomBytes(16).toString('base64')));
    const frame = this.frame(p, chunk);
    const acked = new Promise<void>((resolve, reject) => (this.waiting = { chunk: chunk!, resolve, reject }));
    acked.catch(() => {});
    const timer = setTimeout(() => {
      this.conn.destroy();
      this.waiting?.reject(new SinkError(`no ack for chunk ${chunk} within ${this.config.ackTimeout} ms`, { code: 'ERR_SIDEKICK_LOGS_FORWARD_ACK_TIMEOUT', retryable: true }));
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
