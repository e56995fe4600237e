// A growable byte buffer that sinks encode events into as soon as they are batched, so the
// buffer holds compact wire bytes, not millions of short-lived objects and strings that
// would survive into the old generation (that is what kept RSS high).

export class ByteWriter {
  buf: Buffer;
  len = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Text known to be ASCII (keys, numbers, timestamps, precomputed JSON of ASCII strings). */
  ascii(s: string): void {
    this.ensure(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }

  utf8(s: string): void {
    this.ensure(s.length * 3);
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  bytes(b: Buffer, start = 0, end = b.length): void {
    this.ensure(end - start);
    b.copy(this.buf, this.len, start, end);
    this.len += end - start;
  }

  byte(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** True when the string is pure ASCII, so latin1Write is exact. */
export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}
