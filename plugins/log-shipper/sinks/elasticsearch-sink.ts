// Elasticsearch / OpenSearch _bulk. HTTP 200 is not success: read `errors` and every
// item's status; resend only items that failed with 429/5xx, dead-letter the rest.
import type { ByteWriter } from '../byte-writer.ts';
import type { LogEvent, Payload, SendResult, Sink } from '../event.ts';
import { RecordEncoder } from '../record.ts';
import type { SinkDeps } from './sink.ts';
import { HttpPoster, type HttpOptions } from './http-post.ts';

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}

export class ElasticsearchSink implements Sink {
  private readonly url: string;
  private readonly poster: HttpPoster;
  private readonly encoder: RecordEncoder;
  private readonly action: string;

  constructor(config: HttpOptions & { url: string; index: string }, deps: SinkDeps) {
    this.url = `${config.url.replace(/\/$/, '')}/_bulk`;
    this.encoder = new RecordEncoder(deps.labels, '@timestamp');
    this.action = `${JSON.stringify({ create: { _index: config.index } })}\n`;
    this.poster = new HttpPoster(this.url, config, deps.ctx, 'application/x-ndjson');
  }

  encode(e: LogEvent, w: ByteWriter): void {
    w.utf8(this.action);
    this.encoder.write(e, w);
  }

  /** The document line of an action + document pair. */
  deadLetterRecord(slice: Buffer): string {
    const nl = slice.indexOf(10);
    return slice.toString('utf8', nl + 1, slice[slice.length - 1] === 10 ? slice.length - 1 : slice.length);
  }

  async send(p: Payload, signal: AbortSignal): Promise<SendResult | void> {
    const res = await this.poster.post(this.url, p.bytes, signal);
    const parsed = JSON.parse(res.body) as { errors?: boolean; items?: Array<Record<string, BulkItem>> };
    if (!parsed.errors) return;
    const retry: number[] = [];
    const rejected: number[] = [];
    let error = '';
    parsed.items?.forEach((item, i) => {
      const r = Object.values(item)[0];
      if (!r || (r.status >= 200 && r.status < 300) || i >= p.count) return;
      if (r.status === 429 || r.status >= 500) retry.push(i);
      else rejected.push(i);
      error ||= `bulk item ${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`;
    });
    return { retry, rejected, error };
  }

  async close(): Promise<void> {
    this.poster.close();
  }
}
