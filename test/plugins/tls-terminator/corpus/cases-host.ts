// Class 5, Host and request targets (RFC 9112 3.2-3.2.4): one valid Host on HTTP/1.1, absolute-form
// rewritten to origin-form with Host taken from the target, other forms refused.
import { type Case, refused, req, served } from './corpus-case.ts';

const bad = (id: string, host: string): Case => ({ id, class: 'host', rfc: 'RFC 9112 3.2; RFC 9110 7.2', send: req(['GET /h HTTP/1.1', `Host: ${host}`]), expect: refused(400) });

export const hostCases: Case[] = [
  { id: 'host-missing-1.1', class: 'host', rfc: 'RFC 9112 3.2', send: req(['GET /h HTTP/1.1', 'X-A: 1']), expect: refused(400) },
  { id: 'host-twice-different', class: 'host', rfc: 'RFC 9112 3.2', send: req(['GET /h HTTP/1.1', 'Host: x', 'Host: FORGED.example']), expect: refused(400) },
  { id: 'host-twice-same', class: 'host', rfc: 'RFC 9112 3.2', send: req(['GET /h HTTP/1.1', 'Host: x', 'Host: x']), expect: refused(400) },
  { id: 'host-empty-1.1', class: 'host', rfc: 'RFC 9112 3.2', send: req(['GET /h HTTP/1.1', 'Host:']), expect: refused(400) },
  bad('host-invalid-space', 'a b'),
  bad('host-invalid-slash', 'a/b'),
  bad('host-invalid-backslash', 'a\\b'),
  bad('host-invalid-userinfo', 'user@a.example'),
  bad('host-invalid-ctl', 'a\x01b'),
  bad('host-invalid-port', 'a.example:8x'),
  bad('host-invalid-dotdot', 'a..example'),
  bad('host-invalid-ipv6', '[::1'),
  { id: 'host-http1.0-none', class: 'host', rfc: 'RFC 9112 3.2', send: req(['GET /h HTTP/1.0']), expect: served({ target: '/h' }) },
  {
    id: 'host-absolute-form',
    class: 'host',
    rfc: 'RFC 9112 3.2.2',
    send: req(['GET http://a.example/p?q=1 HTTP/1.1', 'Host: FORGED.example']),
    expect: [served({ target: '/p?q=1', host: 'a.example' }), refused(400)],
  },
  {
    id: 'host-absolute-form-https-port',
    class: 'host',
    rfc: 'RFC 9112 3.2.2',
    send: req(['GET https://a.example:8443/p HTTP/1.1', 'Host: a.example:8443']),
    // nginx's $host drops the port; both are the target's host.
    expect: [served({ target: '/p', host: 'a.example:8443' }), served({ target: '/p', host: 'a.example' }), refused(400)],
  },
  { id: 'host-absolute-form-no-host', class: 'host', rfc: 'RFC 9112 3.2', send: req(['GET http://a.example/p HTTP/1.1']), expect: refused(400) },
  {
    id: 'host-absolute-form-other-scheme',
    class: 'host',
    rfc: 'RFC 9112 3.2.2',
    send: req(['GET ftp://a.example/p HTTP/1.1', 'Host: a.example']),
    expect: [served({ target: '/p', host: 'a.example' }), refused(400)],
  },
  { id: 'host-authority-form-connect', class: 'host', rfc: 'RFC 9112 3.2.3', send: req(['CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443']), expect: refused(400, 405, 501) },
  { id: 'host-authority-form-get', class: 'host', rfc: 'RFC 9112 3.2.3', send: req(['GET a.example:443 HTTP/1.1', 'Host: x']), expect: refused(400) },
  { id: 'host-asterisk-options', class: 'host', rfc: 'RFC 9112 3.2.4', send: req(['OPTIONS * HTTP/1.1', 'Host: x']), expect: refused(400, 405, 501) },
  { id: 'host-asterisk-get', class: 'host', rfc: 'RFC 9112 3.2.4', send: req(['GET * HTTP/1.1', 'Host: x']), expect: refused(400) },
  { id: 'host-target-no-slash', class: 'host', rfc: 'RFC 9112 3.2.1', send: req(['GET p HTTP/1.1', 'Host: x']), expect: refused(400) },
  { id: 'host-target-space', class: 'host', rfc: 'RFC 9112 3', send: req(['GET /p q HTTP/1.1', 'Host: x']), expect: refused(400) },
  { id: 'host-target-ctl', class: 'host', rfc: 'RFC 9112 3', send: req(['GET /p\x01 HTTP/1.1', 'Host: x']), expect: refused(400) },
  { id: 'host-h2-authority-vs-host', class: 'host', rfc: 'RFC 9113 8.3.1', h2: { headers: { ':authority': 'a.example', host: 'FORGED.example' } }, expect: refused(400, 'closed') },
  { id: 'host-h2-path-absolute', class: 'host', rfc: 'RFC 9113 8.3.1', h2: { headers: { ':path': 'http://a.example/p' } }, expect: refused(400, 'closed') },
];
