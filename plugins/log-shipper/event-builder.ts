// Lines to events: decode (invalid UTF-8 replaced and flagged, never dropped), join
// multiline events by their start pattern, parse json/regex fields.
import { isUtf8 } from 'node:buffer';
import type { LogShipperConfig } from './config-schema.ts';
import { FLAG_INVALID_UTF8, FLAG_MULTILINE, LogEvent } from './event.ts';
import { TimeParser } from './event-time.ts';
import type { FileTracker, LineHandler } from './file-tracker.ts';

export interface EventSink {
  push(event: LogEvent, tracker: FileTracker, endOffset: number): void;
}

interface Pending {
  event: LogEvent;
  lines: number;
  endOffset: number;
  since: number;
}

export class EventBuilder implements LineHandler {
  private readonly out: EventSink;
  private readonly parse: LogShipperConfig['parse'];
  private readonly regex: RegExp | undefined;
  private readonly start: RegExp | undefined;
  private readonly multilineTimeout: number;
  private readonly maxLines: number;
  private readonly time: TimeParser | undefined;
  private readonly pending = new Map<FileTracker, Pending>();
  /** Set by the caller once per read, so no clock call per line. */
  now = Date.now();
  /** Lines seen (the caller turns the delta into the metric, once per read). */
  lines = 0;
  private readonly plain = new LogEvent('', 0, 0, 0, undefined);
  private chunkValid = false;
  private chunkEnd = 0;

  constructor(config: LogShipperConfig, out: EventSink) {
    this.out = out;
    this.parse = config.parse;
    this.regex = config.regex ? new RegExp(config.regex) : undefined;
    this.start = config.multiline ? new RegExp(config.multiline.start) : undefined;
    this.multilineTimeout = config.multiline?.timeout ?? 0;
    this.maxLines = config.multiline?.maxLines ?? 1;
    this.time = config.timestamp ? new TimeParser(config.timestamp.field, config.timestamp.format) : undefined;
  }

  /** The read buffer region [0, end) holds only valid UTF-8: no per-line check needed. */
  chunk(buf: Buffer, end: number): void {
    this.chunkValid = isUtf8(buf.subarray(0, end));
    this.chunkEnd = end;
  }

  line(tracker: FileTracker, buf: Buffer, start: number, end: number, flags: number, endOffset: number): void {
    this.lines++;
    const valid = (end <= this.chunkEnd && this.chunkValid) || isUtf8(buf.subarray(start, end));
    if (!valid) flags |= FLAG_INVALID_UTF8;
    const bytes = end - start + 1;
    if (this.start === undefined && this.parse === 'raw' && valid) {
      // The hot path: no string and no object per line. The sink encodes straight from the
      // bytes during push(), so one event object is reused for every plain line.
      const e = this.plain;
      e.file = tracker.path;
      // A Date.now() value is no small integer: storing it boxes a new HeapNumber, so a store
      // per line made a million garbage objects a second. It changes once per read, not per line.
      if (e.time !== this.now) e.time = this.now;
      e.flags = flags;
      e.bytes = bytes;
      e.text = undefined;
      e.raw = buf;
      e.rawStart = start;
      e.rawEnd = end;
      this.out.push(e, tracker, endOffset);
      e.raw = undefined; // the buffer is reused after this read
      return;
    }
    const message = buf.toString('utf8', start, end);
    if (this.start === undefined) {
      this.out.push(this.event(tracker, message, flags, bytes), tracker, endOffset);
      return;
    }
    const pending = this.pending.get(tracker);
    if (pending && !this.start.test(message) && pending.lines < this.maxLines) {
      const e = pending.event;
      e.message += '\n' + message;
      e.flags |= flags | FLAG_MULTILINE;
      e.bytes += bytes;
      pending.lines++;
      pending.endOffset = endOffset;
      pending.since = this.now; // the timeout counts from the last line, so a slowly written trace stays whole
      return;
    }
    if (pending) this.emit(tracker, pending);
    this.pending.set(tracker, { event: this.event(tracker, message, flags, bytes), lines: 1, endOffset, since: this.now });
  }

  /** Emits multiline events idle for longer than the timeout (or all of one file's, when it closes). */
  flushIdle(now: number, only?: FileTracker): void {
    for (const [tracker, p] of this.pending) {
      if (only ? tracker === only : now - p.since >= this.multilineTimeout) this.emit(tracker, p);
    }
  }

  /** Bytes held in events not yet handed on. */
  get heldBytes(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.event.bytes;
    return n;
  }

  private emit(tracker: FileTracker, p: Pending): void {
    this.pending.delete(tracker);
    if (this.parse !== 'raw') this.setFields(p.event);
    this.out.push(p.event, tracker, p.endOffset);
  }

  private event(tracker: FileTracker, message: string, flags: number, bytes: number): LogEvent {
    const e = new LogEvent(tracker.path, this.now, flags, bytes, message);
    if (this.parse !== 'raw' && this.start === undefined) this.setFields(e);
    return e;
  }

  /** Parsed fields, and the event time from one of them if so configured (else the read time stays). */
  private setFields(e: LogEvent): void {
    const fields = this.fields(e.message);
    e.fields = fields;
    const t = this.time;
    if (fields !== undefined && t !== undefined && t.parse(fields)) {
      e.time = t.ms;
      e.nanos = t.nanos;
    }
  }

  /** Parsed fields; a line that does not parse is kept as a plain message. */
  private fields(message: string): Record<string, unknown> | undefined {
    if (this.parse === 'json') {
      if (message.charCodeAt(0) !== 123 /* { */) return undefined;
      try {
        const v = JSON.parse(message);
        return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
      } catch {
        return undefined;
      }
    }
    const m = this.regex!.exec(message);
    return m?.groups ? { ...m.groups } : undefined;
  }
}
