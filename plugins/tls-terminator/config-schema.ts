// The tls-terminator's config keys (the contract of issue 3). Strict objects: a typo is an
// error naming the key, never a silently ignored setting.
import { isIP } from 'node:net';
import * as v from 'valibot';
import { listenAddress, crossCheck, field, integer, nonEmpty, optionalField, duration, size, loadTls } from '../../src/plugin-api.ts';
import { circuitBreaker, concurrency, rateLimits } from './protect/protect-schema.ts';

const nodeTls = loadTls();

const cidr = field(
  v.pipe(
    v.string(),
    v.check((s) => {
      const [addr, bits, extra] = s.split('/');
      if (extra !== undefined || !addr || !isIP(addr)) return false;
      if (bits === undefined) return true;
      const n = Number(bits);
      return /^\d+$/.test(bits) && n <= (isIP(addr) === 4 ? 32 : 128);
    }, 'expected an IP address or CIDR like "10.0.0.0/8" or "fd00::/8"'),
  ),
  'An IP address or CIDR range',
);

// Mozilla's "intermediate" server-side TLS profile (guidelines 5.7): forward-secret AEAD suites only.
export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * A colon-separated list that OpenSSL itself accepts, so a mistake fails the config check, not the
 * start. Groups: every name must be known. Ciphers: OpenSSL skips unknown names in a list (as
 * nginx's ssl_ciphers does), so only a list that matches nothing is refused.
 */
function opensslList(option: 'ciphers' | 'ecdhCurve', what: string) {
  return v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9_+!@=.-]+(:[A-Za-z0-9_+!@=.-]+)*$/, `expected ${what} list like "A:B:C"`),
    v.check((s) => {
      try {
        nodeTls.createSecureContext(option === 'ciphers' ? { ciphers: s } : { ecdhCurve: s });
        return true;
      } catch {
        return false;
      }
    }, option === 'ciphers' ? 'OpenSSL matches no cipher with this list' : 'OpenSSL does not know every group in this list'),
  );
}

const certificate = field(
  v.strictObject({
    cert: field(nonEmpty, 'PEM certificate chain file (relative to the config file)'),
    key: field(nonEmpty, 'PEM private key file matching `cert`'),
    serverNames: optionalField(
      v.array(nonEmpty),
      'SNI names served by this certificate (default: the DNS names in its SAN and CN; "*.example.com" wildcards allowed)',
    ),
  }),
  'One certificate/key pair',
);

const tls = field(
  v.strictObject({
    cert: optionalField(nonEmpty, 'PEM certificate chain file; with `key`, the default certificate'),
    key: optionalField(nonEmpty, 'PEM private key file matching `cert`'),
    certificates: field(v.array(certificate), 'More certificates chosen by SNI; when `cert` is not set, the first one is the default', []),
    clientCa: optionalField(nonEmpty, 'PEM CA bundle that client certificates must chain to; enables mTLS'),
    clientAuth: optionalField(
      v.picklist(['require', 'request', 'none']),
      'require: handshake fails without a valid client cert; request: verified identity passed when present; none. Default: require when clientCa is set, else none',
    ),
    allowClients: optionalField(
      v.strictObject({
        subjects: field(v.array(v.string()), 'Allowed subject DNs as Node prints them, e.g. "CN=billing,O=acme" (exact match)', []),
        sans: field(
          v.array(v.string()),
          'Allowed SAN entries, e.g. "URI:spiffe://cluster.local/ns/a/sa/b" or "DNS:billing.internal"; a trailing "*" matches a prefix',
          [],
        ),
      }),
      'Allow-list of verified client identities; others get 403 (http) or are closed (tcp). Absent: any verified client',
    ),
    minVersion: field(v.picklist(['TLSv1.2', 'TLSv1.3']), 'Lowest TLS version accepted', 'TLSv1.2'),
    maxVersion: field(v.picklist(['TLSv1.2', 'TLSv1.3']), 'Highest TLS version offered (TLSv1.2 only for clients or tools that need it)', 'TLSv1.3'),
    ciphers: field(
      opensslList('ciphers', 'a cipher'),
      "OpenSSL cipher list for TLS 1.2, in the server's order (default: Mozilla's intermediate profile, as nginx's ssl_ciphers)",
      MOZILLA_INTERMEDIATE_CIPHERS,
    ),
    groups: field(
      opensslList('ecdhCurve', 'a key exchange group'),
      "Key exchange groups (TLS 1.2 ECDHE and TLS 1.3), in the server's order, as nginx's ssl_ecdh_curve (default: Mozilla's intermediate profile)",
      'X25519:prime256v1:secp384r1',
    ),
    handshakeTimeout: field(duration(), 'Time allowed from TCP accept to a finished TLS handshake', '10s'),
    sessionTickets: field(
      v.boolean(),
      "Let clients resume sessions with stateless tickets (5 minutes). false: every connection is a full handshake, as nginx's ssl_session_tickets off",
      true,
    ),
    reloadCheckInterval: field(duration(), 'Period of the content check that backs up file watching for certificate reloads (0 disables it)', '60s'),
    selfSignedNames: field(v.array(nonEmpty), 'Names in the self-signed certificate generated when no certificate is configured', ['localhost']),
  }),
  'Certificates and TLS policy',
  {},
);

const fingerprint = field(
  v.strictObject({
    headers: field(v.boolean(), 'Pass X-JA3-Fingerprint and X-JA4-Fingerprint to the app', false),
    allow: field(v.array(nonEmpty), 'If not empty, only clients whose JA3 hash or JA4 is listed may connect', []),
    deny: field(v.array(nonEmpty), 'JA3 hashes or JA4 fingerprints whose connections are closed before the handshake', []),
    topN: field(integer(0, 1000), 'How many most-seen JA4 fingerprints /status lists', 20),
  }),
  'JA3/JA4 ClientHello fingerprinting',
  {},
);

const timeouts = field(
  v.strictObject({
    headers: field(duration(), 'Time allowed to receive a request head (slowloris protection)', '10s'),
    request: field(duration(), 'Time allowed to receive a whole request including its body (0 disables)', '5m'),
    idle: field(duration(), 'Idle keep-alive connections (h1 and h2) are closed after this; also how long a client may stop reading a response', '60s'),
    upstream: field(duration(), 'Time the connection to the app may stay silent (connecting, or waiting for the response) before the client gets 504', '60s'),
    send: field(v.pipe(duration(), v.minValue(1, 'must be more than 0')), "When Sidekick closes a connection (408, 400, 431, 502, Connection: close): the longest its last bytes may wait on a client that does not read them, as nginx's send_timeout", '60s'),
    lingeringTime: field(duration(), "After Sidekick's last bytes are sent: the longest it waits for the client to close its side, reading and discarding, as nginx's lingering_time", '30s'),
    lingeringTimeout: field(duration(), "While waiting for the client's close: the longest silence before the connection is closed anyway, as nginx's lingering_timeout", '5s'),
  }),
  'Timeouts',
  {},
);

const limits = field(
  v.strictObject({
    maxConnections: field(integer(1), 'Client connections beyond this are refused', 10_000),
    maxHeaderSize: field(size(), 'Largest request head accepted (431 beyond it)', '16KiB'),
    maxHeaders: field(integer(1, 10_000), "Most header fields in a request head (431 beyond it), as Envoy's max_headers_count", 100),
    upstreamConnections: field(integer(1), 'Most concurrent connections to the app, each carrying one request at a time (concurrency.maxRequests replaces it when set)', 256),
    upstreamIdleConnections: field(integer(0), 'Idle keep-alive connections kept open to the app', 64),
  }),
  'Limits',
  {},
);

const keys = v.strictObject({
  listen: field(listenAddress(), 'Address to accept TLS on, e.g. "0.0.0.0:8443" (port 0 picks a free port)'),
  upstream: field(nonEmpty, 'The app: "http://host:port" (http mode), "tcp://host:port" or "host:port" (tcp mode), or a unix socket path'),
  upstreamTls: optionalField(
    v.strictObject({
      ca: optionalField(nonEmpty, "PEM CA bundle the app's certificate must chain to (default: the system's CAs)"),
      serverName: optionalField(nonEmpty, 'SNI sent to the app and the name its certificate must carry (default: the upstream host)'),
      cert: optionalField(nonEmpty, 'PEM client certificate chain presented to the app (mTLS); hot reloaded'),
      key: optionalField(nonEmpty, 'PEM private key matching `cert`'),
      insecureSkipVerify: field(v.boolean(), "Accept any certificate from the app (a self-signed one nobody distributed); logged as a warning at start", false),
      minVersion: field(v.picklist(['TLSv1.2', 'TLSv1.3']), 'Lowest TLS version accepted from the app', 'TLSv1.2'),
      alpn: optionalField(
        v.pipe(v.array(v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,255}$/, 'an ALPN protocol name is 1-255 visible ASCII characters'))), v.minLength(1, 'list at least one protocol')),
        'tcp mode: ALPN protocols offered to the app, in order of preference (e.g. [h2] for gRPC or another HTTP/2 service the app speaks h2c to); http mode always offers http/1.1',
      ),
    }),
    'TLS to an app that serves HTTPS itself ("https://" or "tls://" upstream)',
  ),
  direction: field(
    v.picklist(['inbound', 'outbound']),
    'inbound: TLS on `listen`, the app behind; outbound (egress TLS origination): plain on `listen` for the app to call, TLS to an https:// or tls:// upstream',
    'inbound',
  ),
  mode: field(v.picklist(['http', 'tcp']), 'http: HTTPS reverse proxy; tcp: TLS terminated, bytes piped to the app', 'http'),
  tls,
  fingerprint,
  timeouts,
  limits,
  trustedProxies: field(
    v.array(cidr),
    'Peers (CIDRs) whose X-Forwarded-For/Proto/Host and Forwarded headers are kept and appended to; from anyone else they are replaced',
    [],
  ),
  proxyProtocol: optionalField(
    v.strictObject({
      from: field(v.pipe(v.array(cidr), v.minLength(1)), 'Load balancers (CIDRs) that must send a PROXY v1/v2 header; others connect without one'),
    }),
    'Accept the PROXY protocol from these load balancers',
  ),
  sendProxyProtocol: field(
    v.picklist(['off', 'v1', 'v2']),
    "tcp mode: start each app connection with a PROXY protocol header carrying the client's address (as nginx stream's proxy_protocol on)",
    'off',
  ),
  hsts: optionalField(
    v.strictObject({
      maxAge: field(duration(), 'max-age of the Strict-Transport-Security header', '365d'),
      includeSubDomains: field(v.boolean(), 'Add includeSubDomains', false),
    }),
    'Add Strict-Transport-Security to responses (http mode)',
  ),
  redirectHttp: optionalField(
    v.strictObject({
      listen: field(listenAddress(), 'Plain-HTTP address whose requests are redirected to https (308)'),
      httpsPort: optionalField(integer(1, 65535), 'Port in the redirect URL (default: the TLS listen port)'),
    }),
    'A plain-HTTP listener that redirects every request to HTTPS',
  ),
  http1FastPath: field(
    v.boolean(),
    "HTTP/1.1 requests with nothing unusual (no Upgrade, Expect or Transfer-Encoding) are proxied by Sidekick's own lean server; false: all by Node's http server",
    true,
  ),
  accessLog: field(v.boolean(), 'Log one line per request (per connection in tcp mode)', true),
  rateLimits,
  concurrency,
  circuitBreaker,
});

export const configSchema = v.pipe(
  keys,
  crossCheck<v.InferOutput<typeof keys>>((c, problem) => {
    if ((c.tls.cert === undefined) !== (c.tls.key === undefined)) {
      problem(['tls', c.tls.cert ? 'key' : 'cert'], 'tls.cert and tls.key must be set together');
    }
    if (c.tls.clientAuth && c.tls.clientAuth !== 'none' && !c.tls.clientCa) {
      problem(['tls', 'clientCa'], `tls.clientAuth "${c.tls.clientAuth}" needs tls.clientCa`);
    }
    if (c.tls.minVersion === 'TLSv1.3' && c.tls.maxVersion === 'TLSv1.2') {
      problem(['tls', 'maxVersion'], 'must not be lower than tls.minVersion (TLSv1.3)');
    }
    if (c.mode === 'http' && !/^(https?:\/\/|tls:\/\/|\/|unix:)/.test(c.upstream)) {
      problem(['upstream'], 'in http mode, upstream must be "http://host:port", "https://host:port" or a unix socket path');
    }
    if (c.timeouts.request > 0 && c.timeouts.headers > c.timeouts.request) {
      // Node's http server refuses this at start; say so here, with the key.
      problem(['timeouts', 'headers'], `must not exceed timeouts.request (${c.timeouts.headers} ms > ${c.timeouts.request} ms)`);
    }
    if (c.mode === 'http' && c.sendProxyProtocol !== 'off') {
      problem(['sendProxyProtocol'], 'is for tcp mode; in http mode the app gets X-Forwarded-For and Forwarded');
    }
    const secure = /^(https|tls):\/\//.test(c.upstream);
    if (c.upstreamTls && !secure) problem(['upstreamTls'], 'needs an "https://" (http mode) or "tls://" (tcp mode) upstream');
    if (c.mode === 'tcp' && c.upstream.startsWith('https://')) problem(['upstream'], 'in tcp mode, a TLS app is "tls://host:port"');
    if (c.mode === 'http' && c.upstream.startsWith('tls://')) problem(['upstream'], 'in http mode, a TLS app is "https://host:port"');
    if (c.upstreamTls && (c.upstreamTls.cert === undefined) !== (c.upstreamTls.key === undefined)) {
      problem(['upstreamTls', c.upstreamTls.cert ? 'key' : 'cert'], 'upstreamTls.cert and upstreamTls.key must be set together');
    }
    if (c.direction === 'outbound') {
      if (!secure) problem(['upstream'], 'direction: outbound originates TLS: the upstream must be "https://host:port" (http mode) or "tls://host:port" (tcp mode)');
      for (const k of ['cert', 'clientCa'] as const) if (c.tls[k]) problem(['tls', k], 'is for inbound TLS; with direction: outbound `listen` is plain (the client certificate is upstreamTls.cert)');
      if (c.tls.certificates.length) problem(['tls', 'certificates'], 'is for inbound TLS; with direction: outbound `listen` is plain');
      if (c.redirectHttp) problem(['redirectHttp'], 'is for inbound TLS');
      if (c.hsts) problem(['hsts'], 'is for inbound TLS');
      if (c.proxyProtocol) problem(['proxyProtocol'], 'is for inbound TLS');
    }
    if (c.mode === 'tcp') {
      for (const k of ['concurrency', 'circuitBreaker'] as const) if (c[k]) problem([k], 'is for http mode (requests); tcp mode has limits.maxConnections');
      if (c.rateLimits.length) problem(['rateLimits'], 'is for http mode (requests); tcp mode has limits.maxConnections');
    }
    const names = new Set<string>();
    c.rateLimits.forEach((r, i) => {
      const name = r.name ?? `rule-${i}`;
      if (names.has(name)) problem(['rateLimits', i, 'name'], `"${name}" names two rules; metrics and /status tell rules apart by name`);
      names.add(name);
      if (r.key === 'forwarded' && !c.trustedProxies.length) problem(['rateLimits', i, 'key'], 'forwarded reads X-Forwarded-For from trustedProxies only, and none are set (behind the PROXY protocol, address is already the client)');
    });
    if (c.circuitBreaker && c.circuitBreaker.maxEjectionTime < c.circuitBreaker.baseEjectionTime) {
      problem(['circuitBreaker', 'maxEjectionTime'], 'must not be less than baseEjectionTime');
    }
    if (c.upstreamTls?.insecureSkipVerify && c.upstreamTls.ca) problem(['upstreamTls', 'ca'], 'is unused with insecureSkipVerify: true; set one or the other');
    if (c.upstreamTls?.alpn && c.mode === 'http') problem(['upstreamTls', 'alpn'], 'is for tcp mode; in http mode Sidekick speaks HTTP/1.1 to the app and offers http/1.1 itself');
  }),
);

export type TlsTerminatorConfig = v.InferOutput<typeof configSchema>;
