// gzip NDJSON objects in S3 via @aws-sdk/client-s3. The delivery batch IS the object:
// the sink asks for batches as big as maxObjectSize and as old as maxObjectAge, so an
// object is acknowledged (and offsets advance) only once its PutObject succeeded.
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { ByteWriter } from '../byte-writer.ts';
import { type LogEvent, type Payload, type Sink, SinkError } from '../event.ts';
import { type RecordEncoder, ndjsonRecord } from '../record.ts';
import type { SinkDeps } from './sink.ts';

export interface S3Config {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  key: string;
  maxObjectSize: number;
  maxObjectAge: number;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  timeout: number;
}

export class S3Sink implements Sink {
  readonly batchLimits: { maxBytes: number; maxWait: number };
  private readonly client: S3Client;
  private readonly config: S3Config;
  private readonly encoder: RecordEncoder;
  private readonly instance: string;
  private readonly keys = new WeakMap<Buffer, string>();
  private seq = 0;
  readonly deadLetterRecord = ndjsonRecord;

  constructor(config: S3Config, deps: SinkDeps) {
    this.config = config;
    this.encoder = deps.encoder;
    this.instance = deps.ctx.name;
    this.batchLimits = { maxBytes: config.maxObjectSize, maxWait: config.maxObjectAge };
    this.client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
      maxAttempts: 1, // delivery retries with its own backoff; no hidden retries underneath
    });
  }

  encode(e: LogEvent, w: ByteWriter): void {
    this.encoder.write(e, w);
  }

  async send(p: Payload, signal: AbortSignal): Promise<void> {
    // A retried object keeps its key, so a retry after a lost response overwrites, not duplicates.
    let key = this.keys.get(p.bytes);
    if (!key) this.keys.set(p.bytes, (key = this.key(Date.now())));
    const body = gzipSync(p.bytes, { level: 6 });
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }),
        { abortSignal: AbortSignal.any([signal, AbortSignal.timeout(this.config.timeout)]) },
      );
    } catch (err) {
      if (signal.aborted) throw err;
      const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
      const permanent = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
      throw new SinkError(`S3 PutObject ${key}: ${(err as Error).name}: ${(err as Error).message}`, {
        code: permanent ? 'ERR_SIDEKICK_LOGS_SINK_REJECTED' : 'ERR_SIDEKICK_LOGS_SINK_TRANSIENT',
        retryable: !permanent,
      });
    }
  }

  key(ms: number): string {
    const d = new Date(ms);
    const pad = (n: number) => String(n).padStart(2, '0');
    const vars: Record<string, string> = {
      yyyy: String(d.getUTCFullYear()),
      mm: pad(d.getUTCMonth() + 1),
      dd: pad(d.getUTCDate()),
      hh: pad(d.getUTCHours()),
      instance: this.instance,
      ts: String(Date.now()),
      seq: String(this.seq++).padStart(6, '0'),
    };
    return this.config.key.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
