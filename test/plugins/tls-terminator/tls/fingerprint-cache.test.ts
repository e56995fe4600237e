// The fingerprint cache: a ClientHello's key must hold everything JA3/JA4 depend on and nothing
// that changes per connection, so cached values always equal a fresh computation.
import { describe, expect, it } from 'vitest';
import { helloKey } from '../../../../plugins/tls-terminator/tls/client-hello-parser.ts';
import { ClientHello } from '../../../../plugins/tls-terminator/tls/client-hello-reader.ts';
import { FingerprintCache, computeJa3, computeJa4 } from '../../../../plugins/tls-terminator/tls/fingerprint.ts';
import { type HelloSpec, buildHandshake, fingerprintsOf, toRecords } from '../client-hello.ts';

const BASE: HelloSpec = {
  ciphers: [0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f],
  extensions: [0x1a1a, 0x0000, 0x0010, 0x000d, 0x002b, 0x000b, 0x000a, 0x0017],
  sigAlgs: [0x0403, 0x0804, 0x0401],
  alpn: [Buffer.from('h2'), Buffer.from('http/1.1')],
  versions: [0x2a2a, 0x0304, 0x0303],
  sni: 'a.example',
};

// Each differs from BASE in something JA3 or JA4 reads.
const VARIANTS: HelloSpec[] = [
  { ...BASE, ciphers: [0x1302, 0x1301, 0x1303, 0xc02b, 0xc02f] }, // cipher order (JA3)
  { ...BASE, ciphers: [0x1301, 0x1302, 0x1303, 0xc02b] }, // one cipher fewer
  { ...BASE, extensions: [0x0000, 0x000d, 0x0010, 0x002b, 0x000b, 0x000a, 0x0017] }, // extension order (JA3)
  { ...BASE, extensions: BASE.extensions.filter((e) => e !== 0x0000) }, // no SNI (JA4 "i")
  { ...BASE, sigAlgs: [0x0804, 0x0403, 0x0401] }, // signature algorithm order (JA4)
  { ...BASE, alpn: [Buffer.from('http/1.1')] }, // first ALPN (JA4)
  { ...BASE, alpn: [Buffer.from('h3')] },
  { ...BASE, versions: [0x0303] }, // highest version (JA4)
  { ...BASE, legacyVersion: 0x0301 }, // legacy version (JA3)
];

const hello = (spec: HelloSpec) => new ClientHello(buildHandshake(spec));
const fresh = (h: ClientHello) => ({ ja3: computeJa3(h.hello), ja4: computeJa4(h.hello, h.firstAlpn).ja4 });

describe('fingerprint cache', () => {
  it('gives one key to hellos that differ only per connection (random, SNI name, GREASE values)', () => {
    const a = hello(BASE);
    const b = hello({ ...BASE, sni: 'other.example', ciphers: [0x5a5a, ...BASE.ciphers.slice(1)], extensions: [0xbaba, ...BASE.extensions.slice(1)], versions: [0xfafa, 0x0304, 0x0303] });
    expect(a.handshake.subarray(6, 38).equals(b.handshake.subarray(6, 38))).toBe(false); // random differs
    expect(b.key).toBe(a.key);
    expect(fresh(b)).toEqual(fresh(a)); // so sharing one cached value is right
  });

  it('gives a different key to every hello whose JA3 or JA4 differs, and caches the right values', () => {
    const cache = new FingerprintCache();
    const all = [BASE, ...VARIANTS].map(hello);
    expect(new Set(all.map((h) => h.key)).size).toBe(all.length);
    for (const h of all) expect(cache.of(h)).toEqual(fresh(h));
    // Second round: served from the cache, against an independent implementation this time.
    for (const spec of [BASE, ...VARIANTS]) {
      const h = hello(spec);
      expect(cache.of(h)).toEqual(fingerprintsOf(toRecords(h.handshake)));
    }
    expect(cache.size).toBe(all.length);
  });

  it('stays bounded', () => {
    const cache = new FingerprintCache(4);
    for (let n = 1; n <= 10; n++) cache.of(hello({ ...BASE, ciphers: BASE.ciphers.slice(0, 1 + (n % 5)), sigAlgs: [0x0400 + n] }));
    expect(cache.size).toBeLessThanOrEqual(4);
  });

  it('rejects the truncated hellos the parser rejects, with the same message', () => {
    const whole = buildHandshake(BASE);
    for (const cut of [5, 30, 40, 45, 60, whole.length - 3]) {
      const part = whole.subarray(0, cut);
      expect(() => helloKey(part)).toThrow(/shorter|longer|truncated/);
    }
  });
});

describe('fingerprint cache and malformed lists', () => {
  it('never shares a key between a valid list and one whose length prefix lies', () => {
    const valid = buildHandshake({ ...BASE, versions: [0x0304, 0x0303] });
    // supported_versions: id 0x002b, length 5, list length 4 (two versions).
    const at = valid.indexOf(Buffer.from([0x00, 0x2b, 0x00, 0x05, 0x04]));
    expect(at).toBeGreaterThan(0);
    const lying = Buffer.from(valid);
    lying[at + 4] = 0x02; // claims one version, carries two
    expect(helloKey(lying)).not.toBe(helloKey(valid));
    const h = new ClientHello(lying);
    expect(new FingerprintCache().of(h)).toEqual(fresh(h));
  });

  it('keeps every field of a large hello of empty lists, whose key is longer than the hello', () => {
    // Each empty supported_groups extension is 4 bytes in the hello and more in the key (its id,
    // the mark of a malformed list, a length): a key cut short would lose the last extension.
    const handshake = (last: number) => {
      const exts = Buffer.alloc(4000 * 4 + 4);
      for (let i = 0; i < 4000; i++) exts.writeUInt16BE(0x000a, i * 4);
      exts.writeUInt16BE(last, 4000 * 4);
      const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0]), Buffer.from([exts.length >> 8, exts.length & 0xff]), exts]);
      return Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
    };
    const a = handshake(0x0017);
    const b = handshake(0x0018);
    expect(helloKey(a).length).toBeGreaterThan(a.length);
    expect(helloKey(a)).not.toBe(helloKey(b));
    expect(helloKey(a)).toBe(helloKey(Buffer.from(a)));
  });
});
