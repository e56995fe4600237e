// Class 4, the app's responses (RFC 9112 5.1, 6.1-6.3; RFC 9110 5.5): a malformed or ambiguous
// head is a 502 (or, where the RFC allows, cleaned: the client's strict reader refuses anything
// else), and an app connection whose response was malformed or followed by stray bytes is never
// used again (the probe after the case must reach the app on another connection and get its own
// answer).
import { type Case, type Expectation, type Outcome, req } from './corpus-case.ts';

const GET = req(['GET /r HTTP/1.1', 'Host: x']);
const bad = (id: string, rfc: string, response: string, also: Outcome[] = []): Case => ({
  id,
  class: 'response',
  rfc,
  send: GET,
  app: { responses: [response] },
  expect: { responses: [[502, ...also]], app: 1, freshAppConnection: true },
});
/** The response reaches the client as the app meant it; `fresh`: that app connection is not reused. */
const relayed = (status: number, body: string, fresh = false): Expectation => ({ responses: [[status]], app: 1, bodies: [body], freshAppConnection: fresh });
/** 502, and the app connection that gave it is not reused. */
const gateway: Expectation = { responses: [[502]], app: 1, freshAppConnection: true };

export const responseCases: Case[] = [
  bad('resp-space-before-colon', 'RFC 9112 5.1', 'HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-cl-space-before-colon', 'RFC 9112 5.1', 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok'),
  bad('resp-name-ctl', 'RFC 9110 5.1', 'HTTP/1.1 200 OK\r\nX\x01A: 1\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-name-space', 'RFC 9110 5.1', 'HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-value-nul', 'RFC 9110 5.5', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-value-ctl', 'RFC 9110 5.5', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-cl-vertical-tab', 'RFC 9110 5.5', 'HTTP/1.1 200 OK\r\nContent-Length: \x0b2\x0b\r\n\r\nok'),
  bad('resp-te-vertical-tab', 'RFC 9110 5.5', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: \x0bchunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'),
  bad('resp-bare-cr', 'RFC 9112 2.2', 'HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok'),
  {
    id: 'resp-obs-fold',
    class: 'response',
    rfc: 'RFC 9112 5.2',
    send: GET,
    app: { responses: ['HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok'] },
    // nginx 1.22: 502 (it refuses obs-fold from the app).
    expect: gateway,
  },
  bad('resp-first-line-folded', 'RFC 9112 5.2', 'HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-cl-and-te', 'RFC 9112 6.3', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'),
  bad('resp-cl-conflict', 'RFC 9112 6.3', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok'),
  bad('resp-cl-list-conflict', 'RFC 9112 6.3', 'HTTP/1.1 200 OK\r\nContent-Length: 2, 5\r\n\r\nok'),
  bad('resp-cl-plus', 'RFC 9112 6.3', 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok'),
  {
    id: 'resp-cl-duplicate-same',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    send: GET,
    app: { responses: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'] },
    expect: [gateway, relayed(200, 'ok')],
  },
  bad('resp-bad-status', 'RFC 9112 4', 'HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok'),
  bad('resp-bad-chunk', 'RFC 9112 7.1', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n', ['closed']),
  {
    id: 'resp-bytes-after-end',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    send: GET,
    app: { responses: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'] },
    expect: [relayed(200, 'ok', true), gateway],
  },
  {
    id: 'resp-head-with-body',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    head: true,
    send: req(['HEAD /r HTTP/1.1', 'Host: x']),
    app: { responses: ['HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'] },
    expect: [relayed(200, '', true), gateway],
  },
  {
    id: 'resp-204-with-body',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    send: GET,
    app: { responses: ['HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nevil'] },
    expect: [relayed(204, '', true), gateway],
  },
  {
    id: 'resp-304-with-body',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    send: GET,
    app: { responses: ['HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\nevil'] },
    expect: [relayed(304, '', true), gateway],
  },
  {
    id: 'resp-100-unsolicited',
    class: 'response',
    rfc: 'RFC 9110 15.2',
    send: GET,
    app: { responses: ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] },
    expect: [relayed(200, 'ok'), gateway],
  },
  {
    id: 'resp-1xx-several',
    class: 'response',
    rfc: 'RFC 9110 15.2',
    send: GET,
    app: { responses: ['HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] },
    expect: [relayed(200, 'ok'), gateway],
  },
  {
    id: 'resp-101-unrequested',
    class: 'response',
    rfc: 'RFC 9110 15.2.2',
    send: GET,
    app: { responses: ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] },
    expect: [gateway, relayed(200, 'ok', true)],
  },
  {
    id: 'resp-te-not-chunked-final',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    send: GET,
    app: { responses: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw until close'], closeAfter: true },
    expect: [relayed(200, 'raw until close'), gateway],
  },
  {
    id: 'resp-bare-lf',
    class: 'response',
    rfc: 'RFC 9112 2.2',
    send: GET,
    app: { responses: ['HTTP/1.1 200 OK\nContent-Length: 2\n\nok'] },
    expect: [relayed(200, 'ok'), gateway],
  },
  {
    id: 'resp-truncated-body',
    class: 'response',
    rfc: 'RFC 9112 6.3',
    send: GET,
    app: { responses: ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok'], closeAfter: true },
    expect: { responses: [['closed', 502]], app: 1 },
  },
];
