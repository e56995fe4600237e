// The small part of MessagePack the forward protocol needs: encoding strings, numbers,
// booleans, null, arrays, maps, bin and the EventTime ext; decoding the server's
// `{"ack": "<chunk>"}` reply. One growable buffer reused per batch.

export class Packer {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;

  reset(): void {
    this.pos = 0;
  }

  /** A copy of what was packed since the last reset. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  str(s: string): void {
    const len = Buffer.byteLength(s);
    this.ensure(len + 5);
    if (len < 32) this.buf[this.pos++] = 0xa0 | len;
    else if (len < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = len;
    } else if (len < 0x10000) {
      this.buf[this.pos++] = 0xda;
      this.buf.writeUInt16BE(len, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdb;
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  bin(b: Buffer): void {
    this.ensure(b.length + 5);
    this.buf[this.pos++] = 0xc6;
    this.buf.writeUInt32BE(b.length, this.pos);
    this.pos += 4;
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  num(n: number): void {
    this.ensure(9);
    if (Number.isInteger(n) && n >= 0 && n < 0x80) this.buf[this.pos++] = n;
    else if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) {
      this.buf[this.pos++] = 0xce;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    } else if (Number.isSafeInteger(n)) {
      this.buf[this.pos++] = 0xd3;
      this.buf.writeBigInt64BE(BigInt(n), this.pos);
      this.pos += 8;
    } else {
      this.buf[this.pos++] = 0xcb;
      this.buf.writeDoubleBE(n, this.pos);
      this.pos += 8;
    }
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x90 | n;
    else {
      this.buf[this.pos++] = 0xdd;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }

  mapHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = 0x80 | n;
    else {
      this.buf[this.pos++] = 0xdf;
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }

  /** Fluentd EventTime: ext type 0, 8 bytes = uint32 seconds + uint32 nanoseconds (big endian). */
  eventTime(ms: number): void {
    this.ensure(10);
    this.buf[this.pos++] = 0xd7;
    this.buf[this.pos++] = 0x00;
    this.buf.writeUInt32BE(Math.floor(ms / 1000), this.pos);
    this.buf.writeUInt32BE((ms % 1000) * 1_000_000, this.pos + 4);
    this.pos += 8;
  }

  value(v: unknown): void {
    if (typeof v === 'string') this.str(v);
    else if (typeof v === 'number') this.num(v);
    else if (typeof v === 'boolean') {
      this.ensure(1);
      this.buf[this.pos++] = v ? 0xc3 : 0xc2;
    } else if (v === null || v === undefined) {
      this.ensure(1);
      this.buf[this.pos++] = 0xc0;
    } else if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const x of v) this.value(x);
    } else if (Buffer.isBuffer(v)) this.bin(v);
    else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      this.mapHeader(entries.length);
      for (const [k, x] of entries) {
        this.str(k);
        this.value(x);
      }
    } else this.str(String(v));
  }
}

/**
 * Reads one map of string keys to string values (the ack reply) from the front of `buf`.
 * Returns it with the bytes used, undefined if more bytes are needed; throws on anything else.
 */
export function readStringMap(buf: Buffer): { value: Record<string, string>; used: number } | undefined {
  let pos = 0;
  const need = (n: number) => pos + n <= buf.length;
  if (!need(1)) return undefined;
  const h = buf[pos++]!;
  let n: number;
  if ((h & 0xf0) === 0x80) n = h & 0x0f;
  else if (h === 0xde) {
    if (!need(2)) return undefined;
    n = buf.readUInt16BE(pos);
    pos += 2;
  } else throw new Error(`unexpected msgpack type 0x${h.toString(16)} in forward reply`);
  const str = (): string | undefined => {
    if (!need(1)) return undefined;
    const t = buf[pos++]!;
    let len: number;
    if ((t & 0xe0) === 0xa0) len = t & 0x1f;
    else if (t === 0xd9 || t === 0xc4) {
      if (!need(1)) return undefined;
      len = buf[pos++]!;
    } else if (t === 0xda || t === 0xc5) {
      if (!need(2)) return undefined;
      len = buf.readUInt16BE(pos);
      pos += 2;
    } else throw new Error(`unexpected msgpack type 0x${t.toString(16)} in forward reply`);
    if (!need(len)) return undefined;
    const s = buf.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const value: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const k = str();
    if (k === undefined) return undefined;
    const v = str();
    if (v === undefined) return undefined;
    value[k] = v;
  }
  return { value, used: pos };
}
