// Class 1, crash: request lines whose HTTP version is not 1.x over ALPN http/1.1. nginx answers
// 505 (or 400 for a malformed version); the front must answer one of those and keep serving
// (every case ends with a probe on a new connection).
import { type Case, refused, req, served } from './corpus-case.ts';

const rfc = 'RFC 9112 2.3; RFC 9110 2.5, 15.6.6';

export const crashCases: Case[] = [
  { id: 'crash-http2.0-get', class: 'crash', rfc, send: req(['GET /v HTTP/2.0', 'Host: x']), expect: refused(505, 400) },
  { id: 'crash-http2.0-no-host', class: 'crash', rfc, send: req(['GET /v HTTP/2.0']), expect: refused(505, 400) },
  { id: 'crash-http2.0-post-body', class: 'crash', rfc, send: req(['POST /v HTTP/2.0', 'Host: x', 'Content-Length: 5'], 'hello'), expect: refused(505, 400) },
  {
    id: 'crash-http2.0-chunked',
    class: 'crash',
    rfc,
    send: req(['POST /v HTTP/2.0', 'Host: x', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'),
    expect: refused(505, 400),
  },
  { id: 'crash-http2.0-expect', class: 'crash', rfc, send: req(['POST /v HTTP/2.0', 'Host: x', 'Expect: 100-continue', 'Content-Length: 5'], 'hello'), expect: refused(505, 400) },
  { id: 'crash-http2.0-upgrade', class: 'crash', rfc, send: req(['GET /v HTTP/2.0', 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket']), expect: refused(505, 400) },
  { id: 'crash-http2.0-head', class: 'crash', rfc, head: true, send: req(['HEAD /v HTTP/2.0', 'Host: x']), expect: refused(505, 400) },
  {
    id: 'crash-http2.0-after-keepalive',
    class: 'crash',
    rfc,
    send: [req(['GET /a HTTP/1.1', 'Host: x']), req(['GET /v HTTP/2.0', 'Host: x'])],
    expect: { responses: [[200], [505, 400]], app: 1, requests: [{ target: '/a' }] },
  },
  { id: 'crash-http3.0', class: 'crash', rfc, send: req(['GET /v HTTP/3.0', 'Host: x']), expect: refused(505, 400) },
  { id: 'crash-http9.9', class: 'crash', rfc, send: req(['GET /v HTTP/9.9', 'Host: x']), expect: refused(505, 400) },
  { id: 'crash-pri-preface', class: 'crash', rfc: 'RFC 9113 3.4', send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', expect: refused(505, 400, 'closed') },
  // A higher minor version is processed as the highest one implemented (RFC 9110 2.5).
  { id: 'crash-http1.2', class: 'crash', rfc, send: req(['GET /v HTTP/1.2', 'Host: x']), expect: [served({ target: '/v' }), refused(505, 400)] },
  { id: 'crash-http0.9', class: 'crash', rfc, send: 'GET /v\r\n', endAfterSend: true, expect: refused(505, 400, 'closed') },
  { id: 'crash-version-lowercase', class: 'crash', rfc, send: req(['GET /v http/1.1', 'Host: x']), expect: refused(400, 505) },
  { id: 'crash-version-leading-zero', class: 'crash', rfc, send: req(['GET /v HTTP/01.1', 'Host: x']), expect: refused(400, 505) },
  { id: 'crash-version-truncated', class: 'crash', rfc, send: req(['GET /v HTTP/1.', 'Host: x']), expect: refused(400, 505) },
];
