// HTTP/2 requests (node:http2 client) of the framing class: a body that disagrees with its
// content-length is malformed (RFC 9113 8.1.1) and never reaches the app; forwarding fields a
// client sets are dropped as on HTTP/1.1; a body without a length reaches the app framed.
import { type Case, refused, served } from './corpus-case.ts';

export const h2Cases: Case[] = [
  {
    id: 'h2-content-length-short',
    class: 'framing',
    rfc: 'RFC 9113 8.1.1',
    h2: { headers: { ':method': 'POST', 'content-length': '5' }, body: 'helloSMUGGLED' },
    expect: refused(400, 'closed'),
  },
  {
    id: 'h2-content-length-long',
    class: 'framing',
    rfc: 'RFC 9113 8.1.1',
    h2: { headers: { ':method': 'POST', 'content-length': '10' }, body: 'hello' },
    expect: refused(400, 'closed'),
  },
  {
    id: 'h2-forged-fields',
    class: 'framing',
    rfc: 'RFC 9110 7.6',
    h2: { headers: { 'x-forwarded-for': '6.6.6.6', 'client-cert': ':FORGED:', forwarded: 'for=6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-client-cert-subject': 'CN=FORGED' } },
    expect: served({ target: '/h2' }),
  },
  { id: 'h2-body-no-length', class: 'framing', rfc: 'RFC 9113 8.1', h2: { headers: { ':method': 'POST' }, body: 'hello' }, expect: served({ method: 'POST', body: 'hello' }) },
];
