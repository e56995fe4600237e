// Grafana Loki JSON push. Stream labels are the configured (constant, low-cardinality)
// labels plus the file path; flags and parsed fields travel as structured metadata,
// never as labels, so a stream per line can never happen.
import { type LogEvent, flagNames } from '../event.ts';
import type { Sink } from '../event.ts';
import type { SinkDeps } from './create-sink.ts';
import { HttpPoster, type HttpOptions } from './http-post.ts';

export class LokiSink implements Sink {
  private readonly url: string;
  private readonly poster: HttpPoster;
  private readonly labels: Record<string, string>;

  constructor(config: HttpOptions & { url: string; tenant?: string | undefined }, deps: SinkDeps) {
    this.url = config.url.endsWith('/loki/api/v1/push') ? config.url : `${config.url.replace(/\/$/, '')}/loki/api/v1/push`;
    this.labels = deps.labels;
    const headers = config.tenant ? { ...config.headers, 'X-Scope-OrgID': config.tenant } : config.headers;
    this.poster = new HttpPoster(this.url, { ...config, headers }, deps.ctx, 'application/json');
  }

  async send(events: LogEvent[], signal: AbortSignal): Promise<void> {
    await this.poster.post(this.url, this.body(events), signal);
  }

  body(events: LogEvent[]): string {
    // Events keep their order within each file's stream (Loki requires it per stream).
    const streams = new Map<string, { stream: Record<string, string>; values: unknown[] }>();
    for (const e of events) {
      let s = streams.get(e.file);
      if (!s) streams.set(e.file, (s = { stream: { ...this.labels, filename: e.file }, values: [] }));
      const ns = `${e.time}000000`;
      const meta = metadata(e);
      s.values.push(meta ? [ns, e.message, meta] : [ns, e.message]);
    }
    return JSON.stringify({ streams: [...streams.values()] });
  }

  async close(): Promise<void> {
    this.poster.close();
  }
}

function metadata(e: LogEvent): Record<string, string> | undefined {
  const flags = flagNames(e.flags);
  if (!flags && !e.fields) return undefined;
  const m: Record<string, string> = {};
  if (e.fields) for (const [k, v] of Object.entries(e.fields)) m[k] = typeof v === 'string' ? v : JSON.stringify(v);
  if (flags) m.flags = flags.join(',');
  return m;
}
