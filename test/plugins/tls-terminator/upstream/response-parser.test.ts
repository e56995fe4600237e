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
    expect(r.head).toEqual({ status: 201, reason: 'Created Now', headers: ['Server', 'x', 'CONTENT-length', '3', 'X-A', 'v w'], keepAlive: true, framing: 'length' });
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
    ['no colon', 'HTTP/1.1 200 OK\r\nNoColon\r\nX: 1:2\r\n\r\n', /bad header line/],
    ['empty name', 'HTTP/1.1 200 OK\r\n: v\r\n\r\n', /bad header line/],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', /bad header line/],
    ['bare CR', 'HTTP/1.1 200 OK\r\nX: a\rY: b\r\n\r\n', /bare CR/],
    ['bare LF', 'HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n', /bare CR/],
    ['NUL', 'HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n', /bare CR/],
    ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n', /conflicting/],
    ['odd length', 'HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n', /conflicting/],
    ['length and chunked', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', /Content-Length with Transfer-Encoding/],
    ['gzip only', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', /unsupported Transfer-Encoding/],
    ['101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', /unexpected 101/],
  ])('refuses a head with %s', (_name, text, error) => {
    expect(() => parse(text)).toThrow(error);
  });
});
