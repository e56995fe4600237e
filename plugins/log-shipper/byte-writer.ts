// A growable byte buffer that sinks encode events into as soon as they are batched, so the
// buffer holds compact wire bytes, not millions of short-lived objects and strings that
// would survive into the old generation (that is what kept RSS high).

const HEX = Buffer.from('0123456789abcdef');

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

  /** A non-negative integer in decimal, without making a string of it. */
  decimal(v: number): void {
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    this.ensure(digits);
    for (let i = this.len + digits - 1; i >= this.len; i--) {
      this.buf[i] = 48 + (v % 10);
      v = Math.floor(v / 10);
    }
    this.len += digits;
  }

  byte(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  /**
   * A JSON string literal of valid UTF-8 bytes, escaped straight from the source: quote,
   * backslash and control characters escaped, everything else (UTF-8 included) copied as is.
   */
  jsonBytes(src: Buffer, start: number, end: number): void {
    this.ensure((end - start) * 6 + 2);
    const dst = this.buf;
    let o = this.len;
    dst[o++] = 0x22;
    let run = start;
    for (let i = start; i < end; i++) {
      const c = src[i]!;
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
      if (i > run) o += src.copy(dst, o, run, i);
      run = i + 1;
      dst[o++] = 0x5c;
      if (c === 0x22 || c === 0x5c) dst[o++] = c;
      else if (c === 0x0a) dst[o++] = 0x6e; // \n
      else if (c === 0x0d) dst[o++] = 0x72; // \r
      else if (c === 0x09) dst[o++] = 0x74; // \t
      else {
        dst[o++] = 0x75; // \u00XX
        dst[o++] = 0x30;
        dst[o++] = 0x30;
        dst[o++] = HEX[c >> 4]!;
        dst[o++] = HEX[c & 15]!;
      }
    }
    if (end > run) o += src.copy(dst, o, run, end);
    dst[o++] = 0x22;
    this.len = o;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Where each event of a batch starts. A typed array reused with its batch's writer: a JS
 * array grown by push() for every event reallocated its backing store all the way up, once
 * per batch (about 70 MB of garbage per 300 MiB shipped, which grew the young generation).
 */
export class OffsetList {
  a = new Uint32Array(1024);
  n = 0;

  push(v: number): void {
    if (this.n === this.a.length) {
      const next = new Uint32Array(this.a.length * 2);
      next.set(this.a);
      this.a = next;
    }
    this.a[this.n++] = v;
  }

  view(): Uint32Array {
    return this.a.subarray(0, this.n);
  }
}
