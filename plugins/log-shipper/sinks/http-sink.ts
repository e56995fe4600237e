// Generic HTTP: POST each batch as NDJSON (optionally gzip), with headers and basic/bearer auth.
import type { ByteWriter } from '../byte-writer.ts';
import type { LogEvent, Payload, Sink } from '../event.ts';
import { type RecordEncoder, ndjsonRecord } from '../record.ts';
import type { SinkDeps } from './sink.ts';
import { HttpPoster, type HttpOptions } from './http-post.ts';

export class HttpSink implements Sink {
  private readonly url: string;
  private readonly poster: HttpPoster;
  private readonly encoder: RecordEncoder;
  readonly deadLetterRecord = ndjsonRecord;

  constructor(config: HttpOptions & { url: string }, deps: SinkDeps) {
    this.url = config.url;
    this.encoder = deps.encoder;
    this.poster = new HttpPoster(config.url, config, deps.ctx, 'application/x-ndjson');
  }

  encode(e: LogEvent, w: ByteWriter): void {
    this.encoder.write(e, w);
  }

  async send(p: Payload, signal: AbortSignal): Promise<void> {
    await this.poster.post(this.url, p.bytes, signal);
  }

  async close(): Promise<void> {
    this.poster.close();
  }
}
