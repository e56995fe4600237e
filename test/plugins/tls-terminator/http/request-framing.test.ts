// Framing is the proxy's, never the client's (RFC 9112 6, RFC 9110 7.6.1): the request the app
// gets is framed from what Sidekick parsed, whatever the client's Connection header nominates.
// Each case runs on the fast path and on Node's path, over TLS, against a raw-TCP app that
// records every byte it receives.
import http2 from 'node:http2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AgentPair, startAgentPair } from './agent-pair.ts';
import { header, statuses, tlsRaw } from './raw-app.ts';

let pair: AgentPair;
beforeAll(async () => {
  pair = await startAgentPair();
});
afterAll(() => pair?.close());
beforeEach(() => {
  pair.app.requests.length = 0;
});

const SMUGGLED = 'GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n'; // 35 bytes

describe.each(['fast', 'node'] as const)('on the %s path', (path) => {
  const send = (bytes: string, responses = 1) => tlsRaw(pair.ports[path], bytes, responses);

  it('Connection: content-length cannot turn a body into a second request (the issue\'s case)', async () => {
    const reply = await send(`POST /p HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`);
    expect(statuses(reply)).toEqual([200]);
    expect(pair.app.requests).toHaveLength(1);
    const [r] = pair.app.requests;
    expect(r!.line).toBe('POST /p HTTP/1.1');
    expect(header(r!, 'content-length')).toEqual(['35']);
    expect(r!.body).toBe(SMUGGLED);
  });

  it('nor can GET with Connection: keep-alive, Content-Length', async () => {
    const reply = await send(`GET /g HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Content-Length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`);
    expect(statuses(reply)).toEqual([200]);
    expect(pair.app.requests.map((r) => r.line)).toEqual(['GET /g HTTP/1.1']);
    expect(header(pair.app.requests[0]!, 'content-length')).toEqual(['35']);
  });

  it('nor TE: trailers with Connection: TE, content-length (Node\'s path on both)', async () => {
    const reply = await send(`POST /t HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: TE, content-length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`);
    expect(statuses(reply)).toEqual([200]);
    expect(pair.app.requests.map((r) => r.line)).toEqual(['POST /t HTTP/1.1']);
    const [r] = pair.app.requests;
    expect(header(r!, 'content-length')).toEqual(['35']);
    expect(header(r!, 'te')).toEqual([]);
  });

  it('ignores Connection tokens naming what Sidekick writes, and still removes the client\'s other nominated fields', async () => {
    const reply = await send('GET /c HTTP/1.1\r\nHost: x\r\nConnection: x-forwarded-for, client-cert, host, transfer-encoding, forwarded, foo\r\n'
      + 'X-Forwarded-For: 6.6.6.6\r\nClient-Cert: :Zm9yZ2Vk:\r\nFoo: 1\r\nBar: 2\r\n\r\n');
    expect(statuses(reply)).toEqual([200]);
    const [r] = pair.app.requests;
    expect(header(r!, 'host')).toEqual(['x']);
    expect(header(r!, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(header(r!, 'forwarded')).toEqual(['for=127.0.0.1;proto=https;host="x"']);
    expect(header(r!, 'client-cert')).toEqual([]);
    expect(header(r!, 'foo')).toEqual([]);
    expect(header(r!, 'bar')).toEqual(['2']);
    expect(header(r!, 'connection')).toEqual([]);
  });

  it('re-chunks a chunked body with one transfer-encoding of its own', async () => {
    const reply = await send('POST /ch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n');
    expect(statuses(reply)).toEqual([200]);
    const [r] = pair.app.requests;
    expect(header(r!, 'transfer-encoding')).toEqual(['chunked']);
    expect(header(r!, 'content-length')).toEqual([]);
    expect(r!.body).toBe('hello');
  });

  it('writes content-length: 0 for an empty body the client declared, and none for a request without one', async () => {
    await send('POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    await send('GET /n HTTP/1.1\r\nHost: x\r\n\r\n');
    const [post, get] = pair.app.requests;
    expect(header(post!, 'content-length')).toEqual(['0']);
    expect(header(get!, 'content-length')).toEqual([]);
    expect(header(get!, 'transfer-encoding')).toEqual([]);
  });

  it('sends nothing the client wrote after an upgrade request to the app unless it answers 101', async () => {
    // The raw app answers 200: the upgrade is refused, the connection closes, SMUGGLED never reaches it.
    const reply = await send(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, foo\r\nFoo: 1\r\n\r\n${SMUGGLED}`, Infinity);
    expect(statuses(reply)).toEqual([200]);
    expect(pair.app.requests.map((r) => r.line)).toEqual(['GET /ws HTTP/1.1']);
    expect(pair.app.bytes.at(-1)).not.toContain('SMUGGLED'); // an upgrade gets a fresh app connection
    const [r] = pair.app.requests;
    expect(r!.line).toBe('GET /ws HTTP/1.1');
    expect(header(r!, 'upgrade')).toEqual(['websocket']);
    expect(header(r!, 'connection')).toEqual(['upgrade']);
    expect(header(r!, 'foo')).toEqual([]);
  });

  it('refuses an upgrade request with a body (400), reaching nothing', async () => {
    const before = pair.app.bytes.join('').length;
    const reply = await send(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, content-length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`, Infinity);
    expect(statuses(reply)).toEqual([400]);
    expect(pair.app.bytes.join('').length).toBe(before);
  });
});

describe('HTTP/2', () => {
  function h2post(headers: http2.OutgoingHttpHeaders, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${pair.ports.fast}`, { rejectUnauthorized: false });
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': '/h2', ...headers });
      req.on('response', (h) => {
        req.resume();
        req.on('end', () => (session.close(), resolve(Number(h[':status']))));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('frames the body from the stream: its own content-length, or chunked when there is none', async () => {
    expect(await h2post({ 'content-length': '5' }, 'hello')).toBe(200);
    expect(await h2post({}, 'world')).toBe(200);
    const [withLength, without] = pair.app.requests;
    expect(header(withLength!, 'content-length')).toEqual(['5']);
    expect(withLength!.body).toBe('hello');
    expect(header(without!, 'transfer-encoding')).toEqual(['chunked']);
    expect(header(without!, 'content-length')).toEqual([]);
    expect(without!.body).toBe('world');
  });
});
