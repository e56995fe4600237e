// The JSON shape of an event for sinks that send whole records (http, file, stdout, s3,
// elasticsearch): {timestamp, file, message, ...labels, ...parsed fields, flags?}.
// Built by string concatenation on the raw path: JSON.stringify only for the message.
import { type LogEvent, flagNames } from './event.ts';

export class RecordEncoder {
  private readonly labelsJson: string;
  private readonly labels: Record<string, string>;
  private readonly timestampKey: string;
  private lastFile = '';
  private lastFileJson = '""';
  private lastTime = -1;
  private lastTimeJson = '';

  constructor(labels: Record<string, string>, timestampKey = 'timestamp') {
    this.labels = labels;
    this.timestampKey = timestampKey;
    let s = '';
    for (const [k, v] of Object.entries(labels)) s += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
    this.labelsJson = s;
  }

  /** One JSON object, no newline. */
  json(e: LogEvent): string {
    if (e.fields !== undefined) return JSON.stringify(this.object(e));
    if (e.file !== this.lastFile) {
      this.lastFile = e.file;
      this.lastFileJson = JSON.stringify(e.file);
    }
    if (e.time !== this.lastTime) {
      this.lastTime = e.time;
      this.lastTimeJson = new Date(e.time).toISOString();
    }
    let s = `{"${this.timestampKey}":"${this.lastTimeJson}","file":${this.lastFileJson},"message":${JSON.stringify(e.message)}${this.labelsJson}`;
    if (e.flags !== 0) s += `,"flags":${JSON.stringify(flagNames(e.flags))}`;
    return s + '}';
  }

  object(e: LogEvent): Record<string, unknown> {
    const o: Record<string, unknown> = { ...e.fields, ...this.labels };
    o[this.timestampKey] = new Date(e.time).toISOString();
    o.file = e.file;
    o.message = e.message;
    const flags = flagNames(e.flags);
    if (flags) o.flags = flags;
    return o;
  }

  /** NDJSON: every record followed by "\n". */
  ndjson(events: LogEvent[]): string {
    let s = '';
    for (let i = 0; i < events.length; i++) s += this.json(events[i]!) + '\n';
    return s;
  }
}
