// The fast path's request-head parser: keep-alive as RFC 9112 section 9.3 has it (HTTP/1.1
// persistent unless "close"; HTTP/1.0 only with "keep-alive"), tokens matched without case, and
// an Upgrade token sending the request to Node's server.
import { describe, expect, it } from 'vitest';
import { type PlainRequest, parsePlainHead, scanHead } from '../../../../plugins/tls-terminator/http/request-head.ts';

const keepAlive = (version: string, connection?: string): boolean | string => {
  const r = parsePlainHead(`GET / HTTP/${version}\r\nHost: a${connection === undefined ? '' : `\r\nConnection: ${connection}`}`);
  return typeof r === 'string' ? r : (r as PlainRequest).keepAlive;
};

describe('parsePlainHead, Connection', () => {
  it('keeps HTTP/1.1 connections unless the client says close, in any case and in a list', () => {
    expect(keepAlive('1.1')).toBe(true);
    expect(keepAlive('1.1', 'keep-alive')).toBe(true);
    for (const v of ['close', 'Close', 'CLOSE', 'x-secret, close', 'close , keep-alive']) expect(keepAlive('1.1', v), v).toBe(false);
  });

  it('keeps HTTP/1.0 connections only with keep-alive, in any case and in a list', () => {
    expect(keepAlive('1.0')).toBe(false);
    for (const v of ['keep-alive', 'Keep-Alive', 'KEEP-ALIVE', 'x-secret, keep-alive']) expect(keepAlive('1.0', v), v).toBe(true);
  });

  it('hands an Upgrade token to Node, whatever else the header lists', () => {
    expect(keepAlive('1.1', 'Upgrade')).toBe('upgrade');
    expect(keepAlive('1.1', 'keep-alive, upgrade')).toBe('upgrade');
  });
});

// Found by the differential fuzz test against llhttp (request-head.fuzz.test.ts).
describe('parsePlainHead, where llhttp reads a head differently', () => {
  it('hands Proxy-Connection to Node: llhttp reads it as Connection', () => {
    expect(parsePlainHead('GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close')).toBe('other');
  });

  it('hands HTTP/1.0 with close and keep-alive to Node: llhttp keeps it alive (and closes HTTP/1.1)', () => {
    expect(keepAlive('1.0', 'keep-alive, close')).toBe('other');
    expect(keepAlive('1.1', 'close, keep-alive')).toBe(false);
  });

  it('trims Connection tokens of SP and HTAB only: 0xA0 is part of the token for llhttp', () => {
    expect(keepAlive('1.1', 'x, \xa0close')).toBe(true);
  });
});

describe('scanHead, the fast path decision on buffered bytes', () => {
  const scan = (s: string, max = 16384) => scanHead(Buffer.from(s, 'latin1'), max);
  it('waits for the end of the head, then says where the body starts', () => {
    expect(scan('GET / HTTP/1.1\r\nHost: a\r\n')).toBeUndefined();
    expect(scan('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab')).toMatchObject({ bodyStart: 47, request: { contentLength: 2 } });
  });

  it('hands bare LF and oversized heads to Node', () => {
    expect(scan('GET / HTTP/1.1\nHost: a\n\n')).toBe('other');
    expect(scan('GET / HTTP/1.1\r\nHost: a\r\n', 10)).toBe('head_size');
    expect(scan('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 20)).toBe('head_size');
  });
});

describe('parsePlainHead, field count', () => {
  it("hands more than 1000 field lines to Node, whose server answers 431 (maxHeadersCount)", () => {
    const head = (n: number) => `GET / HTTP/1.1\r\nHost: a${'\r\na: b'.repeat(n - 1)}`;
    expect(typeof parsePlainHead(head(1000))).toBe('object');
    expect(parsePlainHead(head(1001))).toBe('head_size');
  });
});

describe('parsePlainHead, Host', () => {
  const host = (v: string) => parsePlainHead(`GET / HTTP/1.1\r\nHost: ${v}`);
  it('takes a uri-host with an optional port (RFC 9112 3.2)', () => {
    for (const v of ['example.com', 'a:8443', '127.0.0.1:80', '[::1]:443', 'xn--bcher-kva.example', 'a%20b']) expect(typeof host(v), v).toBe('object');
  });

  it('hands any other Host value to Node, whose path answers 400 like nginx', () => {
    for (const v of ['', 'a b', 'a/b', 'a@b', '\xe9', 'a:b', '[::1', 'a:80:80', 'a"b']) expect(host(v), JSON.stringify(v)).toBe('other');
    expect(parsePlainHead('GET / HTTP/1.1\r\nHost: a\r\nHost: a')).toBe('other');
  });
});

describe('parsePlainHead, field lines', () => {
  it('declines a malformed line wherever it is, and keeps the reason of a line before it', () => {
    for (const bad of ['X a: 1', 'X:\x01', ': v', 'X\x7f: v', 'X: a\x00b', 'no colon']) {
      expect(parsePlainHead(`GET / HTTP/1.1\r\nHost: a\r\n${bad}`), JSON.stringify(bad)).toBe('other');
      expect(parsePlainHead(`GET / HTTP/1.1\r\n${bad}\r\nHost: a`), JSON.stringify(bad)).toBe('other');
      // An unusual field first: its reason, as when each line was checked on its own.
      expect(parsePlainHead(`GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n${bad}`), JSON.stringify(bad)).toBe('expect');
    }
  });

  it('takes obs-text and tabs in values, and keeps them as sent', () => {
    const r = parsePlainHead('GET / HTTP/1.1\r\nHost: a\r\nX-A: \t\xe9 v\t\r\nX-B:') as PlainRequest;
    expect(r.raw).toEqual(['Host', 'a', 'X-A', '\xe9 v', 'X-B', '']);
  });
});
