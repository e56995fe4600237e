// Class 6, limits: request heads beyond 16 KiB (limits.maxHeaderSize) or 100 field lines
// (limits.maxHeaders) get 431 (RFC 6585 5) and nothing reaches the app.
import { type Case, refused, req, served } from './corpus-case.ts';

const lines = (n: number, width = 1) => Array.from({ length: n }, (_, i) => `X-H${i}: ${'v'.repeat(width)}`);

export const limitsCases: Case[] = [
  { id: 'limits-one-huge-header', class: 'limits', rfc: 'RFC 9110 5.4', send: req(['GET /l HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(20_000)}`]), expect: refused(431) },
  { id: 'limits-head-over-16k', class: 'limits', rfc: 'RFC 9110 5.4', send: req(['GET /l HTTP/1.1', 'Host: x', ...lines(60, 300)]), expect: refused(431) },
  { id: 'limits-101-headers', class: 'limits', rfc: 'RFC 9110 5.4', send: req(['GET /l HTTP/1.1', 'Host: x', ...lines(100)]), expect: refused(431) },
  { id: 'limits-100-headers-ok', class: 'limits', rfc: 'RFC 9110 5.4', send: req(['GET /l HTTP/1.1', 'Host: x', ...lines(99)]), expect: served({ target: '/l' }) },
  { id: 'limits-long-target', class: 'limits', rfc: 'RFC 9112 3', send: req([`GET /${'a'.repeat(20_000)} HTTP/1.1`, 'Host: x']), expect: refused(414, 431, 400) },
];
