// Elasticsearch / OpenSearch _bulk. HTTP 200 is not success: read `errors` and every
// item's status; resend only items that failed with 429/5xx, dead-letter the rest.
import type { LogEvent, SendResult, Sink } from '../event.ts';
import { RecordEncoder } from '../record.ts';
import type { SinkDeps } from './create-sink.ts';
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

  async send(events: LogEvent[], signal: AbortSignal): Promise<SendResult | void> {
    let body = '';
    for (const e of events) body += this.action + this.encoder.json(e) + '\n';
    const res = await this.poster.post(this.url, body, signal);
    const parsed = JSON.parse(res.body) as { errors?: boolean; items?: Array<Record<string, BulkItem>> };
    if (!parsed.errors) return;
    const retry: LogEvent[] = [];
    const rejected: LogEvent[] = [];
    let error = '';
    parsed.items?.forEach((item, i) => {
      const r = Object.values(item)[0];
      if (!r || (r.status >= 200 && r.status < 300)) return;
      const e = events[i];
      if (!e) return;
      if (r.status === 429 || r.status >= 500) retry.push(e);
      else rejected.push(e);
      error ||= `bulk item ${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`;
    });
    return { retry, rejected, error };
  }

  async close(): Promise<void> {
    this.poster.close();
  }
}
