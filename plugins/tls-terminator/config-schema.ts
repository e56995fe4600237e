// The tls-terminator's config keys (the contract of issue 3). Strict objects: a typo is an
// error naming the key, never a silently ignored setting.
import { isIP } from 'node:net';
import { z } from 'zod';
import { listenAddress } from '../../src/config/listen-address.ts';
import { duration, size } from '../../src/config/units.ts';

const cidr = z
  .string()
  .refine((s) => {
    const [addr, bits, extra] = s.split('/');
    if (extra !== undefined || !addr || !isIP(addr)) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n <= (isIP(addr) === 4 ? 32 : 128);
  }, 'expected an IP address or CIDR like "10.0.0.0/8" or "fd00::/8"')
  .describe('An IP address or CIDR range');

const certificate = z
  .strictObject({
    cert: z.string().min(1).describe('PEM certificate chain file (relative to the config file)'),
    key: z.string().min(1).describe('PEM private key file matching `cert`'),
    serverNames: z
      .array(z.string().min(1))
      .optional()
      .describe('SNI names served by this certificate (default: the DNS names in its SAN and CN; "*.example.com" wildcards allowed)'),
  })
  .describe('One certificate/key pair');

const tls = z
  .strictObject({
    cert: z.string().min(1).optional().describe('PEM certificate chain file; with `key`, the default certificate'),
    key: z.string().min(1).optional().describe('PEM private key file matching `cert`'),
    certificates: z
      .array(certificate)
      .default([])
      .describe('More certificates chosen by SNI; when `cert` is not set, the first one is the default'),
    clientCa: z.string().min(1).optional().describe('PEM CA bundle that client certificates must chain to; enables mTLS'),
    clientAuth: z
      .enum(['require', 'request', 'none'])
      .optional()
      .describe('require: handshake fails without a valid client cert; request: verified identity passed when present; none. Default: require when clientCa is set, else none'),
    allowClients: z
      .strictObject({
        subjects: z.array(z.string()).default([]).describe('Allowed subject DNs as Node prints them, e.g. "CN=billing,O=acme" (exact match)'),
        sans: z
          .array(z.string())
          .default([])
          .describe('Allowed SAN entries, e.g. "URI:spiffe://cluster.local/ns/a/sa/b" or "DNS:billing.internal"; a trailing "*" matches a prefix'),
      })
      .optional()
      .describe('Allow-list of verified client identities; others get 403 (http) or are closed (tcp). Absent: any verified client'),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Lowest TLS version accepted'),
    ciphers: z.string().optional().describe("OpenSSL cipher list for TLS 1.2 (default: Node's modern defaults)"),
    handshakeTimeout: duration().prefault('10s').describe('Time allowed from TCP accept to a finished TLS handshake'),
    reloadCheckInterval: duration()
      .prefault('60s')
      .describe('Period of the content check that backs up file watching for certificate reloads (0 disables it)'),
    selfSignedNames: z
      .array(z.string().min(1))
      .default(['localhost'])
      .describe('Names in the self-signed certificate generated when no certificate is configured'),
  })
  .prefault({})
  .describe('Certificates and TLS policy');

const fingerprint = z
  .strictObject({
    headers: z.boolean().default(false).describe('Pass X-JA3-Fingerprint and X-JA4-Fingerprint to the app'),
    allow: z.array(z.string().min(1)).default([]).describe('If not empty, only clients whose JA3 hash or JA4 is listed may connect'),
    deny: z.array(z.string().min(1)).default([]).describe('JA3 hashes or JA4 fingerprints whose connections are closed before the handshake'),
    topN: z.number().int().min(0).max(1000).default(20).describe('How many most-seen JA4 fingerprints /status lists'),
  })
  .prefault({})
  .describe('JA3/JA4 ClientHello fingerprinting');

const timeouts = z
  .strictObject({
    headers: duration().prefault('10s').describe('Time allowed to receive a request head (slowloris protection)'),
    request: duration().prefault('5m').describe('Time allowed to receive a whole request including its body (0 disables)'),
    idle: duration().prefault('60s').describe('Idle keep-alive connections (h1 and h2) are closed after this; also how long a client may stop reading a response'),
    upstream: duration().prefault('60s').describe('Time the connection to the app may stay silent (connecting, or waiting for the response) before the client gets 504'),
  })
  .prefault({})
  .describe('Timeouts');

const limits = z
  .strictObject({
    maxConnections: z.number().int().positive().default(10_000).describe('Client connections beyond this are refused'),
    maxHeaderSize: size().prefault('16KiB').describe('Largest request head accepted (431 beyond it)'),
    upstreamConnections: z.number().int().positive().default(256).describe('Most concurrent connections to the app'),
    upstreamIdleConnections: z.number().int().nonnegative().default(64).describe('Idle keep-alive connections kept open to the app'),
  })
  .prefault({})
  .describe('Limits');

export const configSchema = z
  .strictObject({
    listen: listenAddress().describe('Address to accept TLS on, e.g. "0.0.0.0:8443" (port 0 picks a free port)'),
    upstream: z
      .string()
      .min(1)
      .describe('The app: "http://host:port" (http mode), "tcp://host:port" or "host:port" (tcp mode), or a unix socket path'),
    mode: z.enum(['http', 'tcp']).default('http').describe('http: HTTPS reverse proxy; tcp: TLS terminated, bytes piped to the app'),
    tls,
    fingerprint,
    timeouts,
    limits,
    trustedProxies: z
      .array(cidr)
      .default([])
      .describe('Peers (CIDRs) whose X-Forwarded-For/Proto/Host and Forwarded headers are kept and appended to; from anyone else they are replaced'),
    proxyProtocol: z
      .strictObject({
        from: z.array(cidr).min(1).describe('Load balancers (CIDRs) that must send a PROXY v1/v2 header; others connect without one'),
      })
      .optional()
      .describe('Accept the PROXY protocol from these load balancers'),
    hsts: z
      .strictObject({
        maxAge: duration().prefault('365d').describe('max-age of the Strict-Transport-Security header'),
        includeSubDomains: z.boolean().default(false).describe('Add includeSubDomains'),
      })
      .optional()
      .describe('Add Strict-Transport-Security to responses (http mode)'),
    redirectHttp: z
      .strictObject({
        listen: listenAddress().describe('Plain-HTTP address whose requests are redirected to https (308)'),
        httpsPort: z.number().int().min(1).max(65535).optional().describe('Port in the redirect URL (default: the TLS listen port)'),
      })
      .optional()
      .describe('A plain-HTTP listener that redirects every request to HTTPS'),
    http1FastPath: z
      .boolean()
      .default(true)
      .describe("HTTP/1.1 requests with nothing unusual (no Upgrade, Expect or Transfer-Encoding) are proxied by Sidekick's own lean server; false: all by Node's http server"),
    accessLog: z.boolean().default(true).describe('Log one line per request (per connection in tcp mode)'),
  })
  .superRefine((c, ctx) => {
    if ((c.tls.cert === undefined) !== (c.tls.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls', c.tls.cert ? 'key' : 'cert'], message: 'tls.cert and tls.key must be set together' });
    }
    if (c.tls.clientAuth && c.tls.clientAuth !== 'none' && !c.tls.clientCa) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'clientCa'], message: `tls.clientAuth "${c.tls.clientAuth}" needs tls.clientCa` });
    }
    if (c.mode === 'http' && !/^(https?:\/\/|\/|unix:)/.test(c.upstream)) {
      ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'in http mode, upstream must be "http://host:port" or a unix socket path' });
    }
    if (c.timeouts.request > 0 && c.timeouts.headers > c.timeouts.request) {
      // Node's http server refuses this at start; say so here, with the key.
      ctx.addIssue({ code: 'custom', path: ['timeouts', 'headers'], message: `must not exceed timeouts.request (${c.timeouts.headers} ms > ${c.timeouts.request} ms)` });
    }
    if (c.mode === 'http' && c.upstream.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'https upstreams are not supported yet; the app is expected on plain HTTP' });
    }
  });

export type TlsTerminatorConfig = z.output<typeof configSchema>;
