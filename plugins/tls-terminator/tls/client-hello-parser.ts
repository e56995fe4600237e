// Synchronous ClientHello parsing into read-tls-client-hello's own shape, with its extension
// parsers. The library's readTlsClientHello does the same through a stream and ~40 awaits per
// hello, which showed up in the handshake-rate profile; a test checks both agree field by field.
import type { TlsClientHelloMessage, TlsExtension } from 'read-tls-client-hello';
import { loadReadTlsClientHello, SidekickError } from '../../../src/plugin-api.ts';

const { extensionParsers, isGREASE } = loadReadTlsClientHello();

type Parser = (data: Buffer) => Record<string, unknown> | null;
const PARSERS = extensionParsers as unknown as Record<number, Parser | undefined>;

export class MalformedHello extends SidekickError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SIDEKICK_TLS_CLIENT_HELLO', message, options);
  }
}

/** `hs`: one whole handshake message (type 1, 3-byte length, body). */
export function parseClientHello(hs: Buffer): { hello: TlsClientHelloMessage; firstAlpn?: Buffer } {
  let off = 4;
  const need = (n: number) => {
    if (off + n > hs.length) throw new MalformedHello('ClientHello shorter than its fields');
  };
  need(2 + 32 + 1);
  const version = hs.readUInt16BE(off);
  const random = hs.subarray(off + 2, off + 34);
  off += 34;
  const sidLen = hs[off]!;
  off += 1;
  need(sidLen + 2);
  const sessionId = hs.subarray(off, off + sidLen);
  off += sidLen;
  const cipherLen = hs.readUInt16BE(off);
  off += 2;
  need(cipherLen + 1);
  const cipherSuites: number[] = [];
  for (let i = 0; i + 1 < cipherLen; i += 2) cipherSuites.push(hs.readUInt16BE(off + i));
  off += cipherLen;
  const compLen = hs[off]!;
  off += 1;
  need(compLen);
  const compressionMethods = [...hs.subarray(off, off + compLen)];
  off += compLen;
  const extensions: TlsExtension[] = [];
  let firstAlpn: Buffer | undefined;
  eachExtension(hs, off, (_, id, from, len) => {
    const body = hs.subarray(from, from + len);
    let data: Record<string, unknown> | null = null;
    const parser = PARSERS[id];
    if (parser && !isGREASE(id)) {
      try {
        data = parser(body);
      } catch {
        data = null; // as the library does: a malformed extension is kept, unparsed
      }
    }
    extensions.push({ id, data });
    if (id === 0x0010 && len >= 3 && body[2]! > 0 && 3 + body[2]! <= len) firstAlpn = body.subarray(3, 3 + body[2]!);
  });
  return { hello: { version, random, sessionId, cipherSuites, compressionMethods, extensions }, ...(firstAlpn ? { firstAlpn } : {}) };
}

const isGreaseValue = (v: number) => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);

// helloKey writes the key's bytes here and makes one latin1 string of them: built value by value
// with `+=`, the key was a two-byte cons string that the cache lookup then had to flatten and hash.
// An extension adds at most 5 bytes of framing for the 4 of its header: twice the hello's length
// always fits (a typed array drops writes past its end, which would make a wrong key, not an error).
let scratch = Buffer.allocUnsafe(2048);
let at = 0;

function put16(v: number): void {
  scratch[at++] = v >> 8;
  scratch[at++] = v & 0xff;
}

/** 16-bit values of `b[from..to)`, GREASE left out, after a 2-byte count of the bytes written. */
function u16s(b: Buffer, from: number, to: number): void {
  const lenAt = at;
  at += 2;
  for (let i = from; i + 1 < to; i += 2) {
    const v = (b[i]! << 8) | b[i + 1]!;
    if (!isGreaseValue(v)) put16(v);
  }
  scratch.writeUInt16BE(at - lenAt - 2, lenAt);
}

/** `b[from..to)` as they are, after a 2-byte length. */
function raw(b: Buffer, from: number, to: number): void {
  put16(to - from);
  at += b.copy(scratch, at, from, to);
}

/**
 * Calls `visit` with each extension of the extensions block at `off`, if the hello has one, after
 * checking it lies within the hello: the id, and where its body is in `hs` (nothing copied).
 */
function eachExtension(hs: Buffer, off: number, visit: (hs: Buffer, id: number, from: number, len: number) => void): void {
  if (off + 2 > hs.length) return;
  const end = off + 2 + hs.readUInt16BE(off);
  off += 2;
  if (end > hs.length) throw new MalformedHello('extensions longer than the ClientHello');
  while (off < end) {
    if (off + 4 > end) throw new MalformedHello('truncated extension header');
    const id = hs.readUInt16BE(off);
    const len = hs.readUInt16BE(off + 2);
    off += 4;
    if (off + len > end) throw new MalformedHello('truncated extension');
    visit(hs, id, off, len);
    off += len;
  }
}

/** helloKey's part of an extension: its id, then the details JA3/JA4 read from it. */
function keyExtension(hs: Buffer, id: number, off: number, len: number): void {
  if (isGreaseValue(id)) return;
  put16(id);
  if (id === 0x000a || id === 0x000d || id === 0x002b) list16(hs, off, len, id === 0x002b ? 1 : 2);
  else if (id === 0x000b || id === 0x0010) raw(hs, off, off + len);
}

/**
 * A list of 16-bit values after its length prefix, GREASE out. The prefix itself is left out (it
 * counts GREASE entries too) unless it disagrees with the extension's length: then the raw bytes
 * go in, marked apart, so a malformed list can never share a key (and a cached fingerprint) with a
 * valid one.
 */
function list16(b: Buffer, off: number, len: number, prefix: 1 | 2): void {
  const n = len < prefix ? -1 : prefix === 1 ? b[off]! : b.readUInt16BE(off);
  if (n !== len - prefix || n % 2 !== 0) {
    scratch[at++] = 1;
    return raw(b, off, off + len);
  }
  scratch[at++] = 0;
  u16s(b, off + prefix, off + len);
}

/**
 * Checks the same structure parseClientHello does (same errors) and returns a string holding
 * exactly what JA3 and JA4 depend on: version, cipher and extension ids in order (GREASE out),
 * the groups, point formats, signature algorithms, supported versions and first ALPN value.
 * Random, session id, key shares, SNI name, padding and tickets, which change per connection,
 * stay out, so a client's repeat connections map to one key and one cached fingerprint. Every
 * variable-length part is length-prefixed and an extension's details follow its id, so two
 * different sets of fields never make the same key.
 */
export function helloKey(hs: Buffer): string {
  let off = 4;
  const need = (n: number) => {
    if (off + n > hs.length) throw new MalformedHello('ClientHello shorter than its fields');
  };
  need(2 + 32 + 1);
  if (scratch.length < 2 * hs.length + 64) scratch = Buffer.allocUnsafe(2 * hs.length + 64);
  at = 0;
  put16(hs.readUInt16BE(off));
  off += 34;
  const sidLen = hs[off]!;
  off += 1;
  need(sidLen + 2);
  off += sidLen;
  const cipherLen = hs.readUInt16BE(off);
  off += 2;
  need(cipherLen + 1);
  u16s(hs, off, off + cipherLen);
  off += cipherLen;
  const compLen = hs[off]!;
  off += 1;
  need(compLen);
  off += compLen;
  eachExtension(hs, off, keyExtension);
  return scratch.toString('latin1', 0, at);
}
