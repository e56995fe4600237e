// Synchronous ClientHello parsing into read-tls-client-hello's own shape, with its extension
// parsers. The library's readTlsClientHello does the same through a stream and ~40 awaits per
// hello, which showed up in the handshake-rate profile; a test checks both agree field by field.
import { type TlsClientHelloMessage, type TlsExtension, extensionParsers, isGREASE } from 'read-tls-client-hello';

type Parser = (data: Buffer) => Record<string, unknown> | null;
const PARSERS = extensionParsers as unknown as Record<number, Parser | undefined>;

export class MalformedHello extends Error {
  readonly code = 'ERR_TLS_TERMINATOR_CLIENT_HELLO';
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
  if (off + 2 <= hs.length) {
    const end = off + 2 + hs.readUInt16BE(off);
    off += 2;
    if (end > hs.length) throw new MalformedHello('extensions longer than the ClientHello');
    while (off < end) {
      if (off + 4 > end) throw new MalformedHello('truncated extension header');
      const id = hs.readUInt16BE(off);
      const len = hs.readUInt16BE(off + 2);
      off += 4;
      if (off + len > end) throw new MalformedHello('truncated extension');
      const body = hs.subarray(off, off + len);
      off += len;
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
    }
  }
  return { hello: { version, random, sessionId, cipherSuites, compressionMethods, extensions }, ...(firstAlpn ? { firstAlpn } : {}) };
}
