// The small part of MessagePack the forward protocol needs: encoding strings, numbers,
// booleans, null, arrays, maps, bin and the EventTime ext (into a ByteWriter); decoding
// the server's `{"ack": "<chunk>"}` reply.
import type { ByteWriter } from '../byte-writer.ts';

export class Packer {
  readonly w: ByteWriter;

  constructor(w: ByteWriter) {
    this.w = w;
  }

  str(s: string): void {
    const len = Buffer.byteLength(s);
    this.strHead(len);
    this.w.len += this.w.buf.write(s, this.w.len, 'utf8');
  }

  /** A str of bytes known to be valid UTF-8, copied without decoding. */
  strBytes(src: Buffer, start: number, end: number): void {
    this.strHead(end - start);
    this.w.bytes(src, start, end);
  }

  /** The str header for `len` bytes, with room made for them to follow. */
  private strHead(len: number): void {
    const w = this.w;
    w.ensure(len + 5);
    const b = w.buf;
    if (len < 32) b[w.len++] = 0xa0 | len;
    else if (len < 0x100) {
      b[w.len++] = 0xd9;
      b[w.len++] = len;
    } else if (len < 0x10000) {
      b[w.len++] = 0xda;
      b.writeUInt16BE(len, w.len);
      w.len += 2;
    } else {
      b[w.len++] = 0xdb;
      b.writeUInt32BE(len, w.len);
      w.len += 4;
    }
  }

  bin(data: Buffer): void {
    const w = this.w;
    w.ensure(data.length + 5);
    w.buf[w.len++] = 0xc6;
    w.buf.writeUInt32BE(data.length, w.len);
    w.len += 4;
    w.bytes(data);
  }

  num(n: number): void {
    const w = this.w;
    w.ensure(9);
    const b = w.buf;
    if (Number.isInteger(n) && n >= 0 && n < 0x80) b[w.len++] = n;
    else if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) {
      b[w.len++] = 0xce;
      b.writeUInt32BE(n, w.len);
      w.len += 4;
    } else if (Number.isSafeInteger(n)) {
      b[w.len++] = 0xd3;
      b.writeBigInt64BE(BigInt(n), w.len);
      w.len += 8;
    } else {
      b[w.len++] = 0xcb;
      b.writeDoubleBE(n, w.len);
      w.len += 8;
    }
  }

  arrayHeader(n: number): void {
    this.header(n, 0x90, 0xdd);
  }

  mapHeader(n: number): void {
    this.header(n, 0x80, 0xdf);
  }

  /** fixarray/fixmap below 16 entries, else array32/map32. */
  private header(n: number, fix: number, long: number): void {
    const w = this.w;
    w.ensure(5);
    if (n < 16) w.buf[w.len++] = fix | n;
    else {
      w.buf[w.len++] = long;
      w.buf.writeUInt32BE(n, w.len);
      w.len += 4;
    }
  }

  /** Fluentd EventTime: ext type 0, 8 bytes = uint32 seconds + uint32 nanoseconds (big endian). */
  eventTime(ms: number, nanos = 0): void {
    const w = this.w;
    w.ensure(10);
    w.buf[w.len++] = 0xd7;
    w.buf[w.len++] = 0x00;
    w.buf.writeUInt32BE(Math.floor(ms / 1000), w.len);
    w.buf.writeUInt32BE((ms % 1000) * 1_000_000 + nanos, w.len + 4);
    w.len += 8;
  }

  value(v: unknown): void {
    if (typeof v === 'string') this.str(v);
    else if (typeof v === 'number') this.num(v);
    else if (typeof v === 'boolean') this.w.byte(v ? 0xc3 : 0xc2);
    else if (v === null || v === undefined) this.w.byte(0xc0);
    else if (Array.isArray(v)) {
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
