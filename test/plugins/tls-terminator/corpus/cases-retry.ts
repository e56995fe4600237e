// Class 3, retries (RFC 9110 9.2.2; RFC 9112 9.3.1): after a kept-alive app connection served one
// request, the app reads the next one and closes without answering. Only an idempotent request
// that had no body and got no byte of a response may be sent again; a POST or PATCH must reach the
// app once and the client gets 502.
import { type Case, type Expectation, req } from './corpus-case.ts';

const rfc = 'RFC 9110 9.2.2; RFC 9112 9.3.1';
const WARM = req(['GET /warm HTTP/1.1', 'Host: x']);
const once = (method: string): Expectation => ({ responses: [[200], [502]], app: 2, requests: [{ target: '/warm' }, { method, target: '/t' }] });
const mayRetry = (method: string): Expectation => ({ responses: [[200], [200, 502]], app: [2, 3], requests: [{ target: '/warm' }, { method, target: '/t' }] });
const drop = { target: '/t' };

export const retryCases: Case[] = [
  { id: 'retry-post-cl0', class: 'retry', rfc, app: { drop }, send: [WARM, req(['POST /t HTTP/1.1', 'Host: x', 'Content-Length: 0'])], expect: once('POST') },
  { id: 'retry-post-no-body', class: 'retry', rfc, app: { drop }, send: [WARM, req(['POST /t HTTP/1.1', 'Host: x'])], expect: once('POST') },
  { id: 'retry-patch-cl0', class: 'retry', rfc, app: { drop }, send: [WARM, req(['PATCH /t HTTP/1.1', 'Host: x', 'Content-Length: 0'])], expect: once('PATCH') },
  { id: 'retry-patch-no-body', class: 'retry', rfc, app: { drop }, send: [WARM, req(['PATCH /t HTTP/1.1', 'Host: x'])], expect: once('PATCH') },
  { id: 'retry-post-body', class: 'retry', rfc, app: { drop }, send: [WARM, req(['POST /t HTTP/1.1', 'Host: x', 'Content-Length: 5'], 'hello')], expect: once('POST') },
  { id: 'retry-post-chunked', class: 'retry', rfc, app: { drop }, send: [WARM, req(['POST /t HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n')], expect: once('POST') },
  { id: 'retry-get', class: 'retry', rfc, app: { drop }, send: [WARM, req(['GET /t HTTP/1.1', 'Host: x'])], expect: mayRetry('GET') },
  { id: 'retry-put-cl0', class: 'retry', rfc, app: { drop }, send: [WARM, req(['PUT /t HTTP/1.1', 'Host: x', 'Content-Length: 0'])], expect: mayRetry('PUT') },
  { id: 'retry-delete', class: 'retry', rfc, app: { drop }, send: [WARM, req(['DELETE /t HTTP/1.1', 'Host: x'])], expect: mayRetry('DELETE') },
  {
    id: 'retry-get-after-partial-response',
    class: 'retry',
    rfc,
    app: { drop: { target: '/t', partial: 'HTTP/1.1 200 OK\r\nContent-Le' } },
    send: [WARM, req(['GET /t HTTP/1.1', 'Host: x'])],
    expect: once('GET'),
  },
];
