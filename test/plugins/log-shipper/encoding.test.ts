// The byte-level encoders agree with the reference implementations on every kind of input.
import { describe, expect, it } from 'vitest';
import { ByteWriter, OffsetList } from '../../../plugins/log-shipper/byte-writer.ts';

/** Deterministic pseudo-random strings mixing ASCII, controls, quotes, backslashes and multi-byte UTF-8. */
function* samples(n: number): Generator<string> {
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '\t', '\r', '\u0001', '\u001f', '\u007f', 'é', '✓', '日', '😀', '\u2028', '/', '{', '}'];
  for (let i = 0; i < n; i++) {
    let s = '';
    const len = Math.floor(rand() * 60);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
    yield s;
  }
}

describe('ByteWriter', () => {
  it('jsonBytes escapes raw UTF-8 bytes into a JSON string that parses back to the same text', () => {
    for (const s of samples(2000)) {
      const src = Buffer.from(`xx${s}yy`);
      const w = new ByteWriter(4);
      w.jsonBytes(src, 2, src.length - 2);
      const json = w.view().toString('utf8');
      expect(JSON.parse(json)).toBe(s);
    }
  });

  it('decimal writes the same digits as String(n)', () => {
    const w = new ByteWriter(1);
    const nums = [0, 7, 9, 10, 99, 100, 12_345, 1_048_576, 4_294_967_295, 2 ** 40 + 3];
    for (const n of nums) {
      w.decimal(n);
      w.byte(32);
    }
    expect(w.view().toString()).toBe(nums.map((n) => `${n} `).join(''));
  });

  it('OffsetList keeps every offset across growth and is reusable', () => {
    const l = new OffsetList();
    for (let i = 0; i < 5000; i++) l.push(i * 170);
    expect(Array.from(l.view())).toEqual(Array.from({ length: 5000 }, (_, i) => i * 170));
    l.n = 0;
    l.push(3);
    expect(Array.from(l.view())).toEqual([3]);
  });

  it('grows as needed and mixes ascii, utf8 and bytes', () => {
    const w = new ByteWriter(1);
    w.ascii('{"a":');
    w.utf8(JSON.stringify('日本 ✓'));
    w.bytes(Buffer.from(',"b":1}'));
    expect(JSON.parse(w.view().toString())).toEqual({ a: '日本 ✓', b: 1 });
  });
});
