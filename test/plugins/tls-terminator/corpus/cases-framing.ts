// Class 2, smuggling and framing: the request the app gets is framed from what the front parsed,
// never from what the client's Connection header left over (RFC 9110 7.6.1); every ambiguous,
// obfuscated or malformed length, coding or field line is refused before anything reaches the app
// (RFC 9112 2.2, 5, 6, 7). A smuggled request would reach the app as /SMUGGLED, a forged field with
// 6.6.6.6 or FORGED in it: any of those fails every case.
import { type Case, type Expectation, chunked, refused, req, served } from './corpus-case.ts';

const SMUG = 'GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n';
const SMUG_FORGED = 'GET /SMUGGLED HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nClient-Cert: :FORGED:\r\n\r\n';
const post = (...lines: string[]) => ['POST /p HTTP/1.1', 'Host: x', ...lines];
/** The app gets one POST /p whose body is exactly `body`. */
const onePost = (body: string): Expectation => served({ method: 'POST', target: '/p', body });
const conn = 'RFC 9110 7.6.1';
const len = 'RFC 9112 6.1-6.3';
const chunk = 'RFC 9112 7.1';

export const framingCases: Case[] = [
  // Connection nominating framing or forwarding fields.
  { id: 'conn-content-length', class: 'framing', rfc: conn, send: req(post('Connection: content-length', 'Content-Length: 35'), SMUG), expect: onePost(SMUG) },
  { id: 'conn-content-length-forged', class: 'framing', rfc: conn, send: req(post('Connection: content-length', `Content-Length: ${SMUG_FORGED.length}`), SMUG_FORGED), expect: onePost(SMUG_FORGED) },
  {
    id: 'conn-keep-alive-content-length-get',
    class: 'framing',
    rfc: conn,
    send: req(['GET /g HTTP/1.1', 'Host: x', 'Connection: keep-alive, Content-Length', 'Content-Length: 35'], SMUG),
    expect: [served({ method: 'GET', target: '/g', body: SMUG }), refused(400)],
  },
  { id: 'conn-te-trailers-content-length', class: 'framing', rfc: conn, send: req(post('TE: trailers', 'Connection: TE, content-length', 'Content-Length: 35'), SMUG), expect: onePost(SMUG) },
  { id: 'conn-transfer-encoding', class: 'framing', rfc: conn, send: req(post('Connection: transfer-encoding', 'Transfer-Encoding: chunked'), chunked(SMUG)), expect: onePost(SMUG) },
  { id: 'conn-close-content-length', class: 'framing', rfc: conn, send: req(post('Connection: close, Content-Length', 'Content-Length: 35'), SMUG), expect: onePost(SMUG) },
  { id: 'conn-host', class: 'framing', rfc: conn, send: req(['GET /g HTTP/1.1', 'Host: x', 'Connection: host']), expect: served({ target: '/g', host: 'x' }) },
  {
    id: 'conn-x-forwarded-for',
    class: 'framing',
    rfc: conn,
    send: req(['GET /g HTTP/1.1', 'Host: x', 'Connection: x-forwarded-for', 'X-Forwarded-For: 6.6.6.6']),
    expect: served({ target: '/g', header: { 'x-forwarded-for': '127.0.0.1' } }),
  },
  { id: 'conn-client-cert', class: 'framing', rfc: conn, send: req(['GET /g HTTP/1.1', 'Host: x', 'Connection: client-cert', 'Client-Cert: :FORGED:']), expect: served({ target: '/g' }) },
  {
    id: 'forged-forwarding-fields',
    class: 'framing',
    rfc: 'RFC 9110 7.6',
    send: req([
      'GET /g HTTP/1.1',
      'Host: x',
      'X-Forwarded-For: 6.6.6.6',
      'Forwarded: for=6.6.6.6',
      'X-Real-IP: 6.6.6.6',
      'X-Forwarded-Host: FORGED.example',
      'Client-Cert: :FORGED:',
      'Client-Cert-Chain: :FORGED:',
      'X-Client-Cert-Subject: CN=FORGED',
      'X-Client-Cert-SAN: URI:spiffe://FORGED',
    ]),
    expect: served({ target: '/g' }),
  },
  // A name with underscores is a different token, but CGI-style apps read it as X-Forwarded-For;
  // nginx drops such fields (underscores_in_headers off).
  { id: 'forged-underscore-name', class: 'framing', rfc: 'RFC 9110 5.1', send: req(['GET /g HTTP/1.1', 'Host: x', 'X_Forwarded_For: 6.6.6.6']), expect: [served({ target: '/g' }), refused(400)] },
  // CL.TE, TE.CL, TE.TE.
  { id: 'cl-te', class: 'framing', rfc: len, send: req(post('Content-Length: 6', 'Transfer-Encoding: chunked'), `0\r\n\r\nG`), expect: refused(400) },
  { id: 'te-cl', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: chunked', 'Content-Length: 3'), `8\r\nSMUGGLED\r\n0\r\n\r\n`), expect: refused(400) },
  { id: 'te-xchunked', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: xchunked', 'Content-Length: 5'), 'hello'), expect: refused(400, 501) },
  { id: 'te-xchunked-alone', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: xchunked'), chunked('hello')), expect: refused(400, 501) },
  { id: 'te-space-before-colon', class: 'framing', rfc: 'RFC 9112 5.1', send: req(post('Transfer-Encoding : chunked', 'Content-Length: 5'), 'hello'), expect: refused(400) },
  { id: 'te-leading-space-line', class: 'framing', rfc: 'RFC 9112 5.2', send: req(post('Content-Length: 5', ' Transfer-Encoding: chunked'), 'hello'), expect: refused(400) },
  { id: 'te-chunked-identity', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: chunked, identity'), chunked('hello')), expect: refused(400, 501) },
  { id: 'te-identity-chunked', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: identity, chunked'), chunked('hello')), expect: refused(400, 501) },
  { id: 'te-gzip-chunked', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: gzip, chunked'), chunked('hello')), expect: refused(400, 501) },
  { id: 'te-duplicate', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'), chunked('hello')), expect: refused(400, 501) },
  { id: 'te-chunked-then-other', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: chunked', 'Transfer-Encoding: x'), chunked('hello')), expect: refused(400, 501) },
  { id: 'te-vertical-tab', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: \x0bchunked', 'Content-Length: 5'), 'hello'), expect: refused(400, 501) },
  { id: 'te-nul', class: 'framing', rfc: 'RFC 9110 5.5', send: req(post('Transfer-Encoding: chunked\x00', 'Content-Length: 5'), 'hello'), expect: refused(400, 501) },
  { id: 'te-http1.0', class: 'framing', rfc: 'RFC 9112 6.1', send: req(['POST /p HTTP/1.0', 'Host: x', 'Transfer-Encoding: chunked'], chunked('hello')), expect: refused(400) },
  // HTAB is OWS (RFC 9110 5.6.3), so this is valid; nginx 1.22 answers 501 (it trims only SP).
  // Accepting it is kept: the front re-frames the body, so the app cannot read it another way.
  { id: 'te-tab-ok', class: 'framing', rfc: len, send: req(post('Transfer-Encoding:\tchunked'), chunked('hello')), expect: [onePost('hello'), refused(400, 501)] },
  { id: 'te-uppercase-ok', class: 'framing', rfc: len, send: req(post('Transfer-Encoding: CHUNKED'), chunked('hello')), expect: onePost('hello') },
  // Content-Length.
  { id: 'cl-duplicate-same', class: 'framing', rfc: len, send: req(post('Content-Length: 5', 'Content-Length: 5'), 'hello'), expect: refused(400) },
  { id: 'cl-duplicate-different', class: 'framing', rfc: len, send: req(post('Content-Length: 5', 'Content-Length: 40'), `hello${SMUG}`), expect: refused(400) },
  { id: 'cl-list', class: 'framing', rfc: len, send: req(post('Content-Length: 5, 5'), 'hello'), expect: refused(400) },
  { id: 'cl-list-different', class: 'framing', rfc: len, send: req(post('Content-Length: 5, 40'), `hello${SMUG}`), expect: refused(400) },
  { id: 'cl-plus', class: 'framing', rfc: len, send: req(post('Content-Length: +5'), 'hello'), expect: refused(400) },
  { id: 'cl-minus', class: 'framing', rfc: len, send: req(post('Content-Length: -5'), 'hello'), expect: refused(400) },
  { id: 'cl-inner-space', class: 'framing', rfc: len, send: req(post('Content-Length: 4 0'), `hello${SMUG}`), expect: refused(400) },
  { id: 'cl-hex', class: 'framing', rfc: len, send: req(post('Content-Length: 0x5'), 'hello'), expect: refused(400) },
  { id: 'cl-overflow', class: 'framing', rfc: len, send: req(post('Content-Length: 18446744073709551621'), 'hello'), expect: refused(400, 413) },
  { id: 'cl-empty', class: 'framing', rfc: len, send: req(post('Content-Length:'), 'hello'), expect: refused(400) },
  { id: 'cl-space-before-colon', class: 'framing', rfc: 'RFC 9112 5.1', send: req(post('Content-Length : 5'), 'hello'), expect: refused(400) },
  { id: 'cl-obs-fold', class: 'framing', rfc: 'RFC 9112 5.2', send: req(post('Content-Length: 5', ' 0'), 'hello'), expect: refused(400) },
  { id: 'cl-leading-zeros-ok', class: 'framing', rfc: len, send: req(post('Content-Length: 005'), 'hello'), expect: onePost('hello') },
  { id: 'cl-trailing-space-ok', class: 'framing', rfc: len, send: req(post('Content-Length: 5 '), 'hello'), expect: onePost('hello') },
  // Chunked coding.
  { id: 'chunk-leading-zeros-ok', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '0005\r\nhello\r\n0\r\n\r\n'), expect: onePost('hello') },
  { id: 'chunk-extension-ok', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '5;name=value\r\nhello\r\n0\r\n\r\n'), expect: onePost('hello') },
  { id: 'chunk-size-overflow', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '10000000000000005\r\nhello\r\n0\r\n\r\n'), expect: refused(400, 413) },
  { id: 'chunk-size-0x', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '0x5\r\nhello\r\n0\r\n\r\n'), expect: refused(400) },
  { id: 'chunk-size-negative', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '-5\r\nhello\r\n0\r\n\r\n'), expect: refused(400) },
  { id: 'chunk-size-space', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '5 \r\nhello\r\n0\r\n\r\n'), expect: [refused(400), onePost('hello')] },
  { id: 'chunk-missing-crlf', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), '5\r\nhelloX0\r\n\r\n'), expect: refused(400) },
  { id: 'chunk-bare-lf', class: 'framing', rfc: 'RFC 9112 7.1, 2.2', send: req(post('Transfer-Encoding: chunked'), '5\nhello\n0\n\n'), expect: [refused(400), onePost('hello')] },
  { id: 'chunk-data-longer', class: 'framing', rfc: chunk, send: req(post('Transfer-Encoding: chunked'), `5\r\nhello${SMUG}\r\n0\r\n\r\n`), expect: refused(400) },
  {
    id: 'chunk-trailer-forged',
    class: 'framing',
    rfc: 'RFC 9112 7.1.2; RFC 9110 6.5',
    send: req(post('Transfer-Encoding: chunked'), '5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nClient-Cert: :FORGED:\r\n\r\n'),
    expect: onePost('hello'),
  },
  { id: 'chunk-no-last-chunk', class: 'framing', rfc: chunk, endAfterSend: true, send: req(post('Transfer-Encoding: chunked'), '5\r\nhello\r\n'), expect: refused(400, 'closed') },
  // Field syntax.
  { id: 'obs-fold', class: 'framing', rfc: 'RFC 9112 5.2', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A: 1', '  folded']), expect: refused(400) },
  { id: 'bare-lf-lines', class: 'framing', rfc: 'RFC 9112 2.2', send: 'GET /g HTTP/1.1\nHost: x\nX-A: 1\n\n', expect: [refused(400), served({ target: '/g', header: { 'x-a': '1' } })] },
  { id: 'bare-lf-in-head', class: 'framing', rfc: 'RFC 9112 2.2', send: 'POST /p HTTP/1.1\r\nHost: x\r\nX-A: 1\nContent-Length: 5\r\n\r\nhello', expect: [refused(400), onePost('hello')] },
  { id: 'bare-cr', class: 'framing', rfc: 'RFC 9112 2.2', send: 'GET /g HTTP/1.1\r\nHost: x\r\nX-A: 1\rContent-Length: 35\r\n\r\n' + SMUG, expect: refused(400) },
  { id: 'space-before-colon', class: 'framing', rfc: 'RFC 9112 5.1', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A : 1']), expect: refused(400) },
  { id: 'host-space-before-colon', class: 'framing', rfc: 'RFC 9112 5.1', send: req(['GET /g HTTP/1.1', 'Host : x']), expect: refused(400) },
  { id: 'name-nul', class: 'framing', rfc: 'RFC 9110 5.1', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A\x00: 1']), expect: refused(400) },
  { id: 'name-ctl', class: 'framing', rfc: 'RFC 9110 5.1', send: req(['GET /g HTTP/1.1', 'Host: x', 'X\x01A: 1']), expect: refused(400) },
  { id: 'name-not-token', class: 'framing', rfc: 'RFC 9110 5.1', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A@: 1']), expect: [refused(400), served({ absent: ['x-a@'] })] },
  { id: 'value-nul', class: 'framing', rfc: 'RFC 9110 5.5', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A: a\x00b']), expect: refused(400) },
  { id: 'value-ctl', class: 'framing', rfc: 'RFC 9110 5.5', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A: a\x01b']), expect: [refused(400), served({ absent: ['x-a'] })] },
  { id: 'value-del', class: 'framing', rfc: 'RFC 9110 5.5', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A: a\x7fb']), expect: [refused(400), served({ absent: ['x-a'] })] },
  { id: 'value-obs-text-ok', class: 'framing', rfc: 'RFC 9110 5.5', send: req(['GET /g HTTP/1.1', 'Host: x', 'X-A: caf\xe9']), expect: served({ header: { 'x-a': 'caf\xe9' } }) },
  // Pipelining: each request is parsed and cleaned on its own.
  {
    id: 'pipelined-two',
    class: 'framing',
    rfc: 'RFC 9112 9.3.2',
    send: req(['GET /a HTTP/1.1', 'Host: x']) + req(['GET /b HTTP/1.1', 'Host: x', 'X-Forwarded-For: 6.6.6.6']),
    expect: { responses: [[200], [200]], app: 2, requests: [{ target: '/a' }, { target: '/b' }] },
  },
  {
    id: 'pipelined-after-body',
    class: 'framing',
    rfc: 'RFC 9112 9.3.2',
    send: req(post('Content-Length: 5'), 'hello') + req(['GET /b HTTP/1.1', 'Host: x', 'Client-Cert: :FORGED:']),
    expect: { responses: [[200], [200]], app: 2, requests: [{ target: '/p', body: 'hello' }, { target: '/b' }] },
  },
  {
    id: 'pipelined-after-bad',
    class: 'framing',
    rfc: 'RFC 9112 6.3',
    send: req(post('Content-Length: 1', 'Content-Length: 2'), 'ab') + SMUG,
    expect: { responses: [[400], ['closed']], app: 0 },
  },
];
