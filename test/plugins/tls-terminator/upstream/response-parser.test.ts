// The app response head parser on its own: what it accepts, what it refuses (each refusal is a
// 502 to the client), and what it passes on. The proxy tests cover it end to end; these pin the
// status-line and header-line rules one case at a time.
import { describe, expect, it } from 'vitest';
import { type ResponseHead, ResponseParser } from '../../../../plugins/tls-terminator/upstream/response-parser.ts';

type Seen = { head?: ResponseHead; body: string; ended?: boolean; continues: number };

/** A parser that records what it reports into `out`. */
function recording(out: Seen, headRequest: boolean): ResponseParser {
  return new ResponseParser({
    head: (h) => (out.head = h),
    data: (c) => (out.body += c.toString('latin1')),
    end: (reusable, last) => ((out.ended = reusable), last && (out.body += last.toString('latin1'))),
    continue: () => out.continues++,
  }, headRequest);
}

function parse(text: string, headRequest = false): Seen {
  const out: Seen = { body: '', continues: 0 };
  const bytes = Buffer.from(text, 'latin1');
  recording(out, headRequest).push(bytes);
  // One byte at a time too: a head split anywhere must parse the same.
  const split: Seen = { body: '', continues: 0 };
  const q = recording(split, headRequest);
  for (let i = 0; i < bytes.length; i++) q.push(bytes.subarray(i, i + 1));
  expect(split).toEqual(out);
  return out;
}

describe('ResponseParser', () => {
  it('reads status, reason, framing and keeps end-to-end headers as received', () => {
    const r = parse('HTTP/1.1 201 Created Now\r\nServer: x\r\nCONTENT-length:  3 \r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A:\tv w\t\r\n\r\nabc');
    expect(r.head).toMatchObject({ status: 201, reason: 'Created Now', keepAlive: true, framing: 'length' });
    expect(r.head!.headers).toEqual(['Server', 'x', 'CONTENT-length', '3', 'X-A', 'v w']);
    // The fast path's copy: the kept lines byte for byte, whitespace included.
    expect(r.head!.fieldLines).toBe('Server: x\r\nCONTENT-length:  3 \r\nX-A:\tv w\t\r\n');
    expect(r.body).toBe('abc');
    expect(r.ended).toBe(true);
  });

  it('takes an empty or missing reason, HTTP/1.0 framing until close, and Connection: close', () => {
    expect(parse('HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n').head).toMatchObject({ status: 200, reason: '' });
    expect(parse('HTTP/1.1 204\r\n\r\n').head).toMatchObject({ status: 204, reason: '', framing: 'none' });
    const old = parse('HTTP/1.0 200 OK\r\nX: 1\r\n\r\nrest');
    expect(old.head).toMatchObject({ keepAlive: false, framing: 'close' });
    expect(old.body).toBe('rest');
    expect(parse('HTTP/1.1 200 OK\r\nconnection: Close\r\nContent-Length: 0\r\n\r\n').head).toMatchObject({ keepAlive: false });
    expect(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').head).toMatchObject({ keepAlive: true });
  });

  it('decodes chunked bodies and relays 100 before the final response', () => {
    const r = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTE: x\r\nTrailer: y\r\nUpgrade: z\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(r.continues).toBe(1);
    expect(r.head).toMatchObject({ status: 200, headers: [], framing: 'chunked' });
    expect(r.body).toBe('abc');
  });

  it.each([
    ['HTTP/1.2 200 OK'], ['HTTP/2.0 200 OK'], ['HTTP/1.1 099 X'], ['HTTP/1.1 20 OK'], ['HTTP/1.1 2000 OK'], ['HTTP/1.1 2x0 OK'],
    ['HTTP/1.1  200 OK'], ['HTTP/1.1 200OK'], ['http/1.1 200 OK'], ['HTTP/1.1'], ['ICY 200 OK'],
  ])('refuses the status line %j', (line) => {
    expect(() => parse(`${line}\r\nContent-Length: 0\r\n\r\n`)).toThrow(/bad status line/);
  });

  it.each([
    ['no colon', 'HTTP/1.1 200 OK\r\nNoColon\r\nX: 1:2\r\n\r\n', /bad header line: no colon/],
    ['empty name', 'HTTP/1.1 200 OK\r\n: v\r\n\r\n', /bad header line/],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', /bad header line/],
    ['bare CR', 'HTTP/1.1 200 OK\r\nX: a\rY: b\r\n\r\n', /control character in the value/],
    ['bare LF', 'HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n', /bare LF/],
    ['NUL', 'HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n', /control character in the value/],
    ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n', /more than one Content-Length/],
    ['odd length', 'HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n', /bad Content-Length/],
    ['length and chunked', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', /Content-Length with Transfer-Encoding/],
    ['gzip only', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', /unsupported Transfer-Encoding/],
    ['101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', /unexpected 101/],
  ])('refuses a head with %s', (_name, text, error) => {
    expect(() => parse(text)).toThrow(error);
  });
});

// Each case below was passed to the client (or reused the app connection) before the parser was
// checked against llhttp; llhttp and nginx refuse them (RFC sections in each title).
describe('ResponseParser, as strict as llhttp', () => {
  it.each([
    ['whitespace before the colon (RFC 9112 5.1)', 'HTTP/1.1 200 OK\r\nX-A : v\r\nContent-Length: 0\r\n\r\n', /name is not a token/],
    ['a tab before the colon', 'HTTP/1.1 200 OK\r\nContent-Length\t: 0\r\n\r\n', /name is not a token/],
    ['a control byte in a name (RFC 9110 5.1)', 'HTTP/1.1 200 OK\r\nX\x01A: v\r\nContent-Length: 0\r\n\r\n', /name is not a token/],
    ['DEL in a name', 'HTTP/1.1 200 OK\r\nX\x7f: v\r\nContent-Length: 0\r\n\r\n', /name is not a token/],
    ['a control byte inside a value (RFC 9110 5.5)', 'HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n', /control character/],
    ['a vertical tab String#trim used to remove', 'HTTP/1.1 200 OK\r\nX: a\x0b\r\nContent-Length: 0\r\n\r\n', /control character/],
    ['the same Content-Length twice (llhttp refuses it)', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', /more than one Content-Length/],
    ['a coding before chunked (RFC 9112 6.1)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', /unsupported Transfer-Encoding/],
    ['chunked then HTAB, which llhttp reads until close', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n', /unsupported Transfer-Encoding/],
    ['a control byte in the reason phrase (RFC 9112 4)', 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n', /bad reason phrase/],
    ['whitespace in a chunk-size line (llhttp refuses it)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 ;x\r\na\r\n0\r\n\r\n', /bad chunk size line/],
    ['a bad trailer line', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n', /name is not a token/],
    ['Content-Length as a trailer (RFC 9110 6.5.1)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n', /framing field in trailers/],
    // Never ends in CRLFCRLF: refused as it arrives, not after timeouts.upstream (RFC 9112 2.2).
    ['a head of bare LFs', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', /bare LF/],
  ])('refuses %s', (_name, text, error) => {
    expect(() => parse(text)).toThrow(error);
  });

  it('trims values of SP and HTAB only (RFC 9110 5.6.3), keeping 0xA0 and the like', () => {
    expect(parse('HTTP/1.1 200 OK\r\nX: \xa0v\x85\t \r\nContent-Length: 0\r\n\r\n').head!.headers).toEqual(['X', '\xa0v\x85', 'Content-Length', '0']);
  });

  it('does not reuse a connection that sent bytes past the end of the response (RFC 9112 9.3)', () => {
    const out: Seen = { body: '', continues: 0 };
    recording(out, false).push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n', 'latin1'));
    expect(out.body).toBe('ab');
    expect(out.ended).toBe(false);
    for (const [text, head] of [
      ['HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc', false], // 204 has no body (RFC 9112 6.3)
      ['HTTP/1.1 304 Not Modified\r\n\r\nx', false],
      ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc', true], // HEAD: no body whatever the length says
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n', false],
    ] as const) {
      const seen: Seen = { body: '', continues: 0 };
      recording(seen, head).push(Buffer.from(text, 'latin1'));
      expect(seen.ended, text).toBe(false);
      expect(seen.body, text).toBe('');
    }
  });

  it('passes on the lines around hop-by-hop ones, first, last and in a row', () => {
    const r = parse('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nA: 1\r\nTE: x\r\nTrailer: y\r\nB:2 \r\nKeep-Alive: 5\r\nContent-Length: 0\r\nUpgrade: z\r\n\r\n');
    expect(r.head!.fieldLines).toBe('A: 1\r\nB:2 \r\nContent-Length: 0\r\n');
    expect(r.head!.headers).toEqual(['A', '1', 'B', '2', 'Content-Length', '0']);
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n').head!.fieldLines).toBe('');
    expect(parse('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n').head!.fieldLines).toBe('');
  });

  it('removes the headers Connection nominates (RFC 9110 7.6.1) but never the framing', () => {
    const r = parse('HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: x-a, content-length, transfer-encoding\r\nX-B: 2\r\nContent-Length: 1\r\n\r\nz');
    expect(r.head!.headers).toEqual(['X-B', '2', 'Content-Length', '1']);
    expect(r.head!.fieldLines).toBe('X-B: 2\r\nContent-Length: 1\r\n');
    expect(r.body).toBe('z');
    expect(r.ended).toBe(true);
  });

  it('reads Connection as tokens: x-close does not close, Proxy-Connection: close does', () => {
    expect(parse('HTTP/1.1 200 OK\r\nConnection: x-close\r\nContent-Length: 0\r\n\r\n').ended).toBe(true);
    expect(parse('HTTP/1.0 200 OK\r\nConnection: x-keep-alive\r\nContent-Length: 0\r\n\r\n').ended).toBe(false);
    expect(parse('HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n').ended).toBe(false);
  });

  it('does not reuse a connection after a HEAD response with no length, as llhttp', () => {
    expect(parse('HTTP/1.1 200 OK\r\nX: 1\r\n\r\n', true).ended).toBe(false);
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n', true).ended).toBe(true);
  });
});

describe('ResponseParser, interim responses', () => {
  it('refuses a final response after an interim one that closed the connection, as llhttp', () => {
    expect(() => parse('HTTP/1.1 103 Early Hints\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).toThrow(/interim response closes/);
    expect(() => parse('HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n')).toThrow(/interim response closes/);
    expect(parse('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').head).toMatchObject({ status: 200 });
  });
});
