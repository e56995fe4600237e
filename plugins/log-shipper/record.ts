// The JSON record of an event for sinks that send whole records (http, file, stdout, s3,
// elasticsearch): {timestamp, file, message, ...labels, ...parsed fields, flags?}.
// Written straight into the batch's bytes; the part shared by a run of lines (time, file)
// is built once, so a raw line costs one JSON.stringify of its message.
import type { ByteWriter } from './byte-writer.ts';
import { type LogEvent, flagNames } from './event.ts';

export class RecordEncoder {
  private readonly labels: Record<string, string>;
  private readonly timestampKey: string;
  /** `,"label":"value"...` (the closing brace and newline are written as bytes). */
  private readonly suffix: Buffer;
  private lastFile: string | undefined;
  private lastTime = -1;
  /**
   * The record's start for the current (time, file), pre-encoded: on the hot path only bytes
   * are copied, because Buffer#write(string, offset) allocates (its offset check is wrapped in
   * a rest-arguments function), three arrays per line that made most of the remaining garbage.
   */
  private prefix = Buffer.alloc(0);

  constructor(labels: Record<string, string>, timestampKey = 'timestamp') {
    this.labels = labels;
    this.timestampKey = timestampKey;
    let s = '';
    for (const [k, v] of Object.entries(labels)) s += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
    this.suffix = Buffer.from(s);
  }

  /** One JSON object followed by "\n". */
  write(e: LogEvent, w: ByteWriter): void {
    if (e.fields !== undefined) {
      w.utf8(JSON.stringify(this.object(e)));
      w.byte(10);
      return;
    }
    if (e.file !== this.lastFile || e.time !== this.lastTime) {
      this.lastFile = e.file;
      this.lastTime = e.time;
      this.prefix = Buffer.from(`{"${this.timestampKey}":"${new Date(e.time).toISOString()}","file":${JSON.stringify(e.file)},"message":`);
    }
    w.bytes(this.prefix);
    if (e.raw) w.jsonBytes(e.raw, e.rawStart, e.rawEnd);
    else w.utf8(JSON.stringify(e.message));
    if (e.flags !== 0) w.utf8(`,"flags":${JSON.stringify(flagNames(e.flags))}`);
    if (this.suffix.length > 0) w.bytes(this.suffix);
    w.byte(125); // }
    w.byte(10);
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
}

/** For NDJSON sinks: an event's slice minus its newline is already a JSON value. */
export function ndjsonRecord(slice: Buffer): string {
  return slice.toString('utf8', 0, slice[slice.length - 1] === 10 ? slice.length - 1 : slice.length);
}
