// JA3 and JA4 of a parsed ClientHello. JA3 comes from read-tls-client-hello as is; JA4 is
// computed here because the library's gets the version wrong (always "13" when
// supported_versions is present; the FoxIO spec takes the highest listed version).
import { createHash } from 'node:crypto';
import type { TlsClientHelloMessage } from 'read-tls-client-hello';
import { loadReadTlsClientHello } from '../../../src/plugin-api.ts';

const { calculateJa3, isGREASE } = loadReadTlsClientHello();

const VERSION: Record<number, string> = {
  0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3', 0x0002: 's2', 0xfeff: 'd1', 0xfefd: 'd2', 0xfefc: 'd3',
};
const ZERO_HASH = '000000000000';

const hex4 = (n: number) => n.toString(16).padStart(4, '0');
const count2 = (n: number) => String(Math.min(n, 99)).padStart(2, '0');
const hash12 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
const isAlnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

function extData(hello: TlsClientHelloMessage, id: number): any {
  for (const e of hello.extensions) if (e.id === id) return e.data;
  return undefined;
}

function alpnChars(bytes: Buffer | undefined): string {
  if (!bytes || bytes.length === 0) return '00';
  const a = bytes[0]!;
  const z = bytes[bytes.length - 1]!;
  if (isAlnum(a) && isAlnum(z)) return String.fromCharCode(a, z);
  const h = bytes.toString('hex');
  return h[0]! + h[h.length - 1]!;
}

export interface Ja4Result {
  ja4: string;
  /** JA4_r: the sorted raw lists the hashes are taken of. */
  ja4r: string;
}

/** `firstAlpn`: the raw bytes of the first ALPN value (see client-hello-reader's firstAlpn). */
export function computeJa4(hello: TlsClientHelloMessage, firstAlpn?: Buffer): Ja4Result {
  const ciphers = hello.cipherSuites.filter((c) => !isGREASE(c));
  const extIds = hello.extensions.map((e) => e.id).filter((id) => !isGREASE(id));
  const versions: number[] | undefined = extData(hello, 0x002b)?.versions;
  let version = hello.version;
  if (extIds.includes(0x002b) && versions) {
    const real = versions.filter((v) => !isGREASE(v));
    if (real.length) version = Math.max(...real);
  }
  const sni = extIds.includes(0x0000) ? 'd' : 'i';
  const alpn = alpnChars(firstAlpn);
  const a = `t${VERSION[version] ?? '00'}${sni}${count2(ciphers.length)}${count2(extIds.length)}${alpn}`;

  const cipherList = ciphers.map(hex4).sort().join(',');
  const extList = extIds.filter((e) => e !== 0x0000 && e !== 0x0010).map(hex4).sort().join(',');
  const sigs = ((extData(hello, 0x000d)?.algorithms as number[] | undefined) ?? []).filter((s) => !isGREASE(s)).map(hex4).join(',');
  const c = sigs ? `${extList}_${sigs}` : extList;
  return {
    ja4: `${a}_${cipherList ? hash12(cipherList) : ZERO_HASH}_${extList ? hash12(c) : ZERO_HASH}`,
    ja4r: `${a}_${cipherList}_${c}`,
  };
}

export function computeJa3(hello: TlsClientHelloMessage): string {
  return calculateJa3(hello);
}

export interface Fingerprints {
  readonly ja3: string;
  readonly ja4: string;
}

/**
 * JA3/JA4 by ClientHello key (client-hello-parser's helloKey): a client's repeat connections
 * skip the parse, the sorting and three hashes (~5 % of a new connection's CPU). Bounded: a
 * client sending ever-new hellos only empties it, and costs what no cache would.
 */
export class FingerprintCache {
  private readonly map = new Map<string, Fingerprints>();
  private readonly max: number;

  constructor(max = 512) {
    this.max = max;
  }

  of(h: { key: string; hello: TlsClientHelloMessage; firstAlpn?: Buffer }): Fingerprints {
    let fp = this.map.get(h.key);
    if (fp) return fp;
    fp = { ja3: computeJa3(h.hello), ja4: computeJa4(h.hello, h.firstAlpn).ja4 };
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(h.key, fp);
    return fp;
  }

  get size(): number {
    return this.map.size;
  }
}
