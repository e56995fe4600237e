// Host rules (RFC 9112 3.2), absolute-form (3.2.2), asterisk/authority-form and HTTP/2's
// :authority (RFC 9113 8.3.1), as nginx 1.22 enforces them or stricter. Unit tests of the rules,
// then the same cases end to end on both HTTP/1.1 paths against a raw-TCP app.
import http2 from 'node:http2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isValidHost, resolveH1, resolveH2 } from '../../../../plugins/tls-terminator/http/host-rules.ts';
import { type AgentPair, startAgentPair } from './agent-pair.ts';
import { header, statuses, tlsRaw } from './raw-app.ts';

describe('isValidHost (uri-host [":" port])', () => {
  it.each(['x', 'a.example', 'a-b.c_d~e', 'a.example:8443', 'a.example:', '127.0.0.1:80', '[::1]', '[::1]:443', 'a%41b', '%41', 'a.', "a!$&'()*+,;=b"])('accepts %s', (h) => {
    expect(isValidHost(h)).toBe(true);
  });
  it.each([
    '', ' ', 'a b', 'a/b', 'a@b', 'a"b', 'a\\b', 'a..b', '.', ':80', 'a:b', 'a.b:80:90', 'a.b:123456', '[::1', '[zz]', '[v1.x]', 'a%4', 'a%4:80', 'a%zz', '%', '[::1]x', '[::1]:x', 'é.example', 'a\r\nx: y', 'a\x00b',
  ])('refuses %j', (h) => {
    expect(isValidHost(h)).toBe(false);
  });
});

describe('resolveH1', () => {
  const host = (v: string) => ['Host', v];
  it('takes origin-form with its Host', () => {
    expect(resolveH1('/p?q', host('x'), true)).toEqual({ path: '/p?q', host: 'x' });
  });
  it('lets HTTP/1.0 go without Host, never HTTP/1.1', () => {
    expect(resolveH1('/p', [], false)).toEqual({ path: '/p', host: undefined });
    expect(resolveH1('/p', [], true)).toBe('no Host');
  });
  it('refuses two Host lines, identical ones included, and an invalid value', () => {
    expect(resolveH1('/p', [...host('x'), ...host('x')], true)).toBe('more than one Host');
    expect(resolveH1('/p', ['host', 'x', 'HOST', 'y'], false)).toBe('more than one Host');
    expect(resolveH1('/p', host('a b'), true)).toBe('invalid Host');
  });
  it('rewrites absolute-form to origin-form, the authority replacing Host', () => {
    expect(resolveH1('http://a.example/p?q', host('x'), true)).toEqual({ path: '/p?q', host: 'a.example' });
    expect(resolveH1('HTTPS://a.example:8443', host('x'), true)).toEqual({ path: '/', host: 'a.example:8443' });
    expect(resolveH1('http://a.example?q', host('x'), true)).toEqual({ path: '/?q', host: 'a.example' });
  });
  it('refuses other schemes, userinfo, an empty authority, asterisk- and authority-form', () => {
    expect(resolveH1('ftp://a.example/p', host('x'), true)).toBe('unsupported scheme');
    expect(resolveH1('http://u@a.example/p', host('x'), true)).toBe('invalid authority');
    expect(resolveH1('http:///p', host('x'), true)).toBe('invalid authority');
    expect(resolveH1('*', host('x'), true)).toBe('asterisk-form');
    expect(resolveH1('a.example:443', host('x'), true)).toBe('bad request target');
  });
});

describe('resolveH2', () => {
  it(':authority wins over host; one of them is required and valid; a host naming another authority is refused', () => {
    expect(resolveH2('GET', '/p', 'a.example', 'A.example')).toEqual({ path: '/p', host: 'a.example' });
    expect(resolveH2('GET', '/p', 'a.example', 'b.example')).toBe('host differs from :authority');
    expect(resolveH2('GET', '/p', 'a.example', ['a.example', 'a.example'])).toBe('host differs from :authority');
    expect(resolveH2('GET', '/p', undefined, 'b.example')).toEqual({ path: '/p', host: 'b.example' });
    expect(resolveH2('GET', '/p', undefined, undefined)).toBe('no :authority');
    expect(resolveH2('GET', '/p', 'u@a.example', undefined)).toBe('invalid :authority');
  });
  it('refuses CONNECT and a :path that is not origin-form', () => {
    expect(resolveH2('CONNECT', '', 'a.example:443', undefined)).toBe('CONNECT');
    expect(resolveH2('OPTIONS', '*', 'a.example', undefined)).toBe('bad :path');
    expect(resolveH2('GET', 'http://a.example/p', 'a.example', undefined)).toBe('bad :path');
  });
});

describe('end to end', () => {
  let pair: AgentPair;
  beforeAll(async () => {
    pair = await startAgentPair();
  });
  afterAll(() => pair?.close());
  beforeEach(() => {
    pair.app.requests.length = 0;
  });

  describe.each(['fast', 'node'] as const)('on the %s path', (path) => {
    const send = (bytes: string) => tlsRaw(pair.ports[path], bytes, 1);

    it.each([
      ['HTTP/1.1 without Host', 'GET /p HTTP/1.1\r\n\r\n'],
      ['two Host lines', 'GET /p HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'],
      ['two identical Host lines', 'GET /p HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n'],
      ['a Host with a space', 'GET /p HTTP/1.1\r\nHost: a b\r\n\r\n'],
      ['a Host with a slash', 'GET /p HTTP/1.1\r\nHost: a/b\r\n\r\n'],
      ['a Host with userinfo', 'GET /p HTTP/1.1\r\nHost: u@a\r\n\r\n'],
      ['a Host with two dots in a row', 'GET /p HTTP/1.1\r\nHost: a..b\r\n\r\n'],
      ['an empty Host', 'GET /p HTTP/1.1\r\nHost: \r\n\r\n'],
      ['absolute-form of another scheme', 'GET ftp://a.example/p HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['absolute-form with userinfo', 'GET http://u@a.example/p HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['absolute-form without Host', 'GET http://a.example/p HTTP/1.1\r\n\r\n'],
      ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['GET *', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['authority-form GET', 'GET a.example:80 HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['CONNECT', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n'],
    ])('answers 400 to %s, reaching nothing (nginx: 400)', async (_name, bytes) => {
      expect(statuses(await send(bytes))).toEqual([400]);
      expect(pair.app.requests).toEqual([]);
    });

    it('sends absolute-form to the app as origin-form with the authority as Host (nginx does the same)', async () => {
      expect(statuses(await send('GET http://a.example:8443/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n'))).toEqual([200]);
      const [r] = pair.app.requests;
      expect(r!.line).toBe('GET /p?q=1 HTTP/1.1');
      expect(header(r!, 'host')).toEqual(['a.example:8443']);
      expect(header(r!, 'x-forwarded-host')).toEqual(['a.example:8443']);
    });

    it('gives an HTTP/1.0 request without Host the SNI name', async () => {
      expect(statuses(await tlsRaw(pair.ports[path], 'GET /old HTTP/1.0\r\n\r\n', 1, 'sni.example'))).toEqual([200]);
      expect(header(pair.app.requests[0]!, 'host')).toEqual(['sni.example']);
    });

    it('never lets an SNI name that is not a host inject header lines (it used to)', async () => {
      // OpenSSL refuses only NUL in a server name: CR LF reach the handshake's servername.
      expect(statuses(await tlsRaw(pair.ports[path], 'GET /old HTTP/1.0\r\n\r\n', 1, 'evil.example\r\nX-Injected: 1'))).toEqual([200]);
      const [r] = pair.app.requests;
      expect(header(r!, 'host')).toEqual(['localhost']);
      expect(header(r!, 'x-injected')).toEqual([]);
    });
  });

  it('HTTP/2: :authority goes to the app as Host; a host field naming another authority gets 400 (nginx: 400)', async () => {
    const session = http2.connect(`https://127.0.0.1:${pair.ports.fast}`, { rejectUnauthorized: false });
    const get = (headers: http2.OutgoingHttpHeaders) => new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/h2', ...headers });
      req.on('response', (h) => (req.resume(), req.on('end', () => resolve(Number(h[':status'])))));
      req.on('error', reject);
      req.end();
    });
    try {
      expect(await get({ ':authority': 'a.example', host: 'b.example' })).toBe(400);
      expect(await get({ ':authority': 'a.example:8443', host: 'a.example:8443' })).toBe(200);
      expect(pair.app.requests.map((r) => header(r, 'host'))).toEqual([['a.example:8443']]);
    } finally {
      session.close();
    }
  });
});
