// What flows from the tailer to the sinks, and what a sink answers.
import { type ErrorCode, SidekickError } from '../../src/plugin-api.ts';
import type { ByteWriter } from './byte-writer.ts';

/** Flags on an event: bit set, so the hot path allocates no array. */
export const FLAG_SPLIT = 1; // a piece of a line longer than maxLineSize
export const FLAG_PARTIAL = 2; // a last line emitted without its newline (timeout)
export const FLAG_INVALID_UTF8 = 4; // bytes that are not UTF-8 were replaced by U+FFFD
export const FLAG_MULTILINE = 8; // several lines joined by the multiline start pattern
const FLAG_NAMES: Array<[number, string]> = [
  [FLAG_SPLIT, 'split'],
  [FLAG_PARTIAL, 'partial'],
  [FLAG_INVALID_UTF8, 'invalid_utf8'],
  [FLAG_MULTILINE, 'multiline'],
];

/**
 * One event. A plain line keeps pointing at its bytes in the read buffer (`raw`) while it is
 * being batched - which happens synchronously, before that buffer is reused - so sinks can
 * copy or escape the bytes directly and no string is ever made for it. `message` decodes
 * on demand.
 */
export class LogEvent {
  /** The path the file had when it was discovered (shared string, not copied per event). */
  file: string;
  /** Epoch ms when the line was read, or from a parsed field (`timestamp`). */
  time: number;
  /** Nanoseconds below `time`'s millisecond (from a parsed field; 0 for read times). */
  nanos = 0;
  /** Parsed fields (json / regex parsing), if any. */
  fields: Record<string, unknown> | undefined = undefined;
  flags: number;
  /** Bytes of the line(s) in the file. */
  bytes: number;
  /** Valid UTF-8 bytes of the message, only during the synchronous hand-over to the batch. */
  raw: Buffer | undefined;
  rawStart: number;
  rawEnd: number;
  text: string | undefined;

  constructor(file: string, time: number, flags: number, bytes: number, text: string | undefined, raw?: Buffer, start = 0, end = 0) {
    this.file = file;
    this.time = time;
    this.flags = flags;
    this.bytes = bytes;
    this.text = text;
    this.raw = raw;
    this.rawStart = start;
    this.rawEnd = end;
  }

  get message(): string {
    if (this.text === undefined) this.text = this.raw ? this.raw.toString('utf8', this.rawStart, this.rawEnd) : '';
    return this.text;
  }

  set message(text: string) {
    this.text = text;
    this.raw = undefined;
  }
}

/** A batch in the sink's wire format, encoded as events were batched. */
export interface Payload {
  /** begin() + every event + end(). */
  bytes: Buffer;
  count: number;
  /** Byte offset in `bytes` where each event starts; starts[count] is where end() begins. */
  starts: ArrayLike<number>;
}

/**
 * A sink's answer for one payload. Empty or undefined: everything was accepted.
 * `retry`: indexes of events to send again (transient failure); `rejected`: indexes refused
 * for good (they go to the dead-letter file). Throwing means "retry the whole payload",
 * or, for an error with `retryable: false`, "reject the whole payload".
 */
export interface SendResult {
  retry?: number[];
  rejected?: number[];
  /** Honoured before the next attempt (from Retry-After). */
  retryAfterMs?: number;
  error?: string;
}

export interface Sink {
  /** Appends one event in the wire format. Called on the hot path: no per-event objects. */
  encode(event: LogEvent, w: ByteWriter): void;
  /** Bytes before the first event / after the last one (e.g. a JSON envelope). */
  begin?(w: ByteWriter): void;
  end?(w: ByteWriter): void;
  send(payload: Payload, signal: AbortSignal): Promise<SendResult | void>;
  /**
   * One event's bytes as a JSON value for the dead-letter file. Only sinks whose events are
   * self-contained slices (no shared envelope) define it; others dead-letter whole payloads.
   */
  deadLetterRecord?(slice: Buffer): string;
  close(): Promise<void>;
  /** A sink may ask for its own batch bounds (S3 rolls whole objects). */
  readonly batchLimits?: { maxBytes?: number; maxWait?: number };
}

export function flagNames(flags: number): string[] | undefined {
  if (flags === 0) return undefined;
  const out: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) out.push(name);
  return out;
}

/** log-shipper's delivery codes: their meanings are in the catalogue (src/errors.ts, docs/errors.md). */
export type SinkErrorCode = Extract<ErrorCode, `ERR_SIDEKICK_LOGS_${string}`>;

/** A failed delivery; `retryable` says whether the batch may be tried again. */
export class SinkError extends SidekickError<SinkErrorCode> {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, opts: { code: SinkErrorCode; retryable: boolean; retryAfterMs?: number }) {
    super(opts.code, message);
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
  }
}
