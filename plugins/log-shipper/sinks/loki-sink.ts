// Grafana Loki JSON push. Stream labels are the configured (constant, low-cardinality)
// labels plus the file path; flags and parsed fields travel as structured metadata,
// never as labels, so a stream per line can never happen. Each run of lines from one file
// becomes one stream entry, in file order (Loki accepts repeated streams in a push).
import type { ByteWriter } from '../byte-writer.ts';
import { type LogEvent, type Payload, type Sink, flagNames } from '../event.ts';
import type { SinkDeps } from './sink.ts';
import { HttpPoster, type HttpOptions } from './http-post.ts';

const OPEN_FIRST = Buffer.from('["');
const OPEN_NEXT = Buffer.from(',["');

export class LokiSink implements Sink {
  private readonly url: string;
  private readonly poster: HttpPoster;
  private readonly labelsJson: string;
  private file: string | undefined;
  private first = true;
  /** `"<ns>",` for the current time, pre-encoded (no string per line). */
  private ts = Buffer.alloc(0);
  private tsTime = -1;
  private tsNanos = -1;

  constructor(config: HttpOptions & { url: string; tenant?: string | undefined }, deps: SinkDeps) {
    this.url = config.url.endsWith('/loki/api/v1/push') ? config.url : `${config.url.replace(/\/$/, '')}/loki/api/v1/push`;
    let labels = '';
    for (const [k, v] of Object.entries(deps.labels)) labels += `${JSON.stringify(k)}:${JSON.stringify(v)},`;
    this.labelsJson = labels;
    const headers = config.tenant ? { ...config.headers, 'X-Scope-OrgID': config.tenant } : config.headers;
    this.poster = new HttpPoster(this.url, { ...config, headers }, deps.ctx, 'application/json');
  }

  begin(w: ByteWriter): void {
    this.file = undefined;
    this.first = true;
    w.ascii('{"streams":[');
  }

  encode(e: LogEvent, w: ByteWriter): void {
    if (e.file !== this.file) {
      if (this.file !== undefined) w.ascii(']},');
      this.file = e.file;
      w.utf8(`{"stream":{${this.labelsJson}"filename":${JSON.stringify(e.file)}},"values":[`);
      this.first = true;
    }
    w.bytes(this.first ? OPEN_FIRST : OPEN_NEXT);
    this.first = false;
    if (e.time !== this.tsTime || e.nanos !== this.tsNanos) {
      // Nanoseconds as a string: ms followed by the 6 digits below it.
      this.ts = Buffer.from(`${e.time}${String(e.nanos).padStart(6, '0')}",`);
      this.tsTime = e.time;
      this.tsNanos = e.nanos;
    }
    w.bytes(this.ts);
    if (e.raw) w.jsonBytes(e.raw, e.rawStart, e.rawEnd);
    else w.utf8(JSON.stringify(e.message));
    const meta = metadata(e);
    if (meta) w.utf8(`,${JSON.stringify(meta)}`);
    w.byte(93); // ]
  }

  end(w: ByteWriter): void {
    if (this.file !== undefined) w.ascii(']}');
    w.ascii(']}');
    this.file = undefined;
  }

  async send(p: Payload, signal: AbortSignal): Promise<void> {
    await this.poster.post(this.url, p.bytes, signal);
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
