// Test-side TLS ClientHello tools, written independently of the plugin: a builder for
// synthetic hellos (the FoxIO spec example), a capture of what a real client sends, and a
// from-scratch JA3/JA4 computation to check the plugin's values against.
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);

export interface HelloSpec {
  ciphers: number[];
  /** Extension ids in order; data for the ones we need is derived from the other fields. */
  extensions: number[];
  sigAlgs?: number[];
  alpn?: Buffer[];
  versions?: number[];
  sni?: string;
  legacyVersion?: number;
}

export function buildHandshake(spec: HelloSpec): Buffer {
  const exts: Buffer[] = [];
  for (const id of spec.extensions) {
    let data = Buffer.alloc(0);
    if (id === 0x0000) {
      const name = Buffer.from(spec.sni ?? 'example.com');
      data = vec16(Buffer.concat([Buffer.from([0]), vec16(name)]));
    } else if (id === 0x0010) {
      data = vec16(Buffer.concat((spec.alpn ?? []).map((p) => Buffer.concat([Buffer.from([p.length]), p]))));
    } else if (id === 0x000d) {
      data = vec16(Buffer.concat((spec.sigAlgs ?? []).map(u16)));
    } else if (id === 0x002b) {
      const v = Buffer.concat((spec.versions ?? []).map(u16));
      data = Buffer.concat([Buffer.from([v.length]), v]);
    } else if (id === 0x000a) {
      data = vec16(Buffer.concat([u16(0x001d), u16(0x0017)]));
    } else if (id === 0x000b) {
      data = Buffer.from([1, 0]);
    }
    exts.push(Buffer.concat([u16(id), vec16(data)]));
  }
  const body = Buffer.concat([
    u16(spec.legacyVersion ?? 0x0303),
    randomBytes(32),
    Buffer.from([0]),
    vec16(Buffer.concat(spec.ciphers.map(u16))),
    Buffer.from([1, 0]),
    vec16(Buffer.concat(exts)),
  ]);
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

/** Wraps a handshake message in TLS records of at most `maxFragment` bytes. */
export function toRecords(handshake: Buffer, maxFragment = 16384): Buffer {
  const out: Buffer[] = [];
  for (let off = 0; off < handshake.length; off += maxFragment) {
    const frag = handshake.subarray(off, off + maxFragment);
    out.push(Buffer.from([0x16, 0x03, 0x01]), u16(frag.length), frag);
  }
  return Buffer.concat(out);
}

/** The first flight a real client sends, captured by a plain TCP server. */
export async function captureClientHello(connect: (port: number) => { destroy(): void; on(e: string, f: () => void): void }): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (sock) => {
        let buf = Buffer.alloc(0);
        sock.on('data', (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            resolve(buf);
            sock.destroy();
          }
        });
      });
      const client = connect(port);
      client.on('error', () => {});
      setTimeout(() => reject(new Error('no ClientHello captured')), 5000).unref();
    });
  } finally {
    server.close();
  }
}

const GREASE = (v: number) => (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
const hex = (n: number) => n.toString(16).padStart(4, '0');

/** Independent JA3 (md5 of the text form) and JA4 of one record holding a ClientHello. */
export function fingerprintsOf(record: Buffer): { ja3: string; ja4: string } {
  const hs = record.subarray(5);
  let off = 4;
  const legacy = hs.readUInt16BE(off);
  off += 2 + 32;
  off += 1 + hs[off]!;
  const cipherLen = hs.readUInt16BE(off);
  const ciphers: number[] = [];
  for (let i = 0; i < cipherLen; i += 2) ciphers.push(hs.readUInt16BE(off + 2 + i));
  off += 2 + cipherLen;
  off += 1 + hs[off]!;
  const end = off + 2 + hs.readUInt16BE(off);
  off += 2;
  const exts: number[] = [];
  let groups: number[] = [];
  let formats: number[] = [];
  let sigs: number[] = [];
  let versions: number[] = [];
  let alpn: Buffer | undefined;
  while (off < end) {
    const id = hs.readUInt16BE(off);
    const d = hs.subarray(off + 4, off + 4 + hs.readUInt16BE(off + 2));
    off += 4 + d.length;
    exts.push(id);
    const list16 = (from: number, len: number) => Array.from({ length: len / 2 }, (_, i) => d.readUInt16BE(from + i * 2));
    if (id === 0x000a) groups = list16(2, d.readUInt16BE(0));
    if (id === 0x000b) formats = [...d.subarray(1, 1 + d[0]!)];
    if (id === 0x000d) sigs = list16(2, d.readUInt16BE(0));
    if (id === 0x002b) versions = list16(1, d[0]!);
    if (id === 0x0010 && d.length > 3) alpn = d.subarray(3, 3 + d[2]!);
  }
  const c = ciphers.filter((x) => !GREASE(x));
  const e = exts.filter((x) => !GREASE(x));
  const ja3text = [legacy, c.join('-'), e.join('-'), groups.filter((g) => !GREASE(g)).join('-'), formats.join('-')].join(',');
  const ja3 = createHash('md5').update(ja3text).digest('hex');

  const v = versions.filter((x) => !GREASE(x));
  const top = v.length ? Math.max(...v) : legacy;
  const ver = ({ 0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10' } as Record<number, string>)[top] ?? '00';
  const alnum = (b: number) => /[0-9A-Za-z]/.test(String.fromCharCode(b));
  let al = '00';
  if (alpn && alpn.length) {
    al = alnum(alpn[0]!) && alnum(alpn[alpn.length - 1]!)
      ? String.fromCharCode(alpn[0]!, alpn[alpn.length - 1]!)
      : alpn.toString('hex')[0]! + alpn.toString('hex').slice(-1);
  }
  const a = `t${ver}${e.includes(0) ? 'd' : 'i'}${String(Math.min(99, c.length)).padStart(2, '0')}${String(Math.min(99, e.length)).padStart(2, '0')}${al}`;
  const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
  const b = c.length ? sha(c.map(hex).sort().join(',')) : '000000000000';
  const extStr = e.filter((x) => x !== 0 && x !== 0x10).map(hex).sort().join(',');
  const sigStr = sigs.filter((x) => !GREASE(x)).map(hex).join(',');
  const cpart = extStr ? sha(sigStr ? `${extStr}_${sigStr}` : extStr) : '000000000000';
  return { ja3, ja4: `${a}_${b}_${cpart}` };
}
