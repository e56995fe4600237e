import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../src/config/listen-address.ts';
import { parseDuration, parseSize } from '../../src/config/units.ts';

describe('durations', () => {
  it.each([
    ['500ms', 500], ['10s', 10_000], ['5m', 300_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['0', 0], ['2d', 172_800_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', 'ten seconds', '5 m', '-1s', '1y', 's'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('sizes', () => {
  it.each([
    ['64KiB', 65_536], ['16MiB', 16 * 1024 * 1024], ['1GiB', 1024 ** 3], ['10MB', 10_000_000], ['512', 512], ['1.5KiB', 1536],
  ])('%s is %d bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', 'MiB', '10 parsecs', '-5KiB'])('%j is not a size', (text) => expect(parseSize(text)).toBeUndefined());
});

describe('listen addresses', () => {
  it.each([
    ['0.0.0.0:9901', { host: '0.0.0.0', port: 9901 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['8080', { host: '0.0.0.0', port: 8080 }],
  ])('%s', (text, addr) => expect(parseListenAddress(text)).toEqual(addr));

  it.each(['localhost', 'host:99999', 'a:b', ''])('%j is refused', (text) => expect(parseListenAddress(text)).toBeUndefined());
});
