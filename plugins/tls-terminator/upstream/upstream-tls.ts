// The TLS options of every connection to an `https://` or `tls://` upstream: one SecureContext
// (CA bundle, optional client certificate for mTLS, minimum version) built at start and rebuilt
// when its files change, so a connection costs no PEM parsing. Connections opened after a reload
// present the new client certificate; open ones keep theirs until they close.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { loadTls } from '../../../src/plugin-api.ts';
import type { TlsTerminatorConfig } from '../config-schema.ts';
import type { UpstreamTarget } from './upstream-target.ts';

const tls = loadTls();

type TcpTarget = Extract<UpstreamTarget, { kind: 'tcp' }>;

export class UpstreamTls {
  private readonly target: TcpTarget;
  private readonly cfg: NonNullable<TlsTerminatorConfig['upstreamTls']> | undefined;
  private readonly alpn?: string[];
  private readonly log: Logger;
  readonly files: string[];
  private loaded?: Buffer;
  /** Subject and notAfter of the client certificate presented, for /status. */
  clientCert?: { subject: string; notAfter: string };

  constructor(target: TcpTarget, cfg: TlsTerminatorConfig, resolvePath: (p: string) => string, log: Logger) {
    this.target = target;
    const u = cfg.upstreamTls;
    this.cfg = u && { ...u, ...(u.ca ? { ca: resolvePath(u.ca) } : {}), ...(u.cert ? { cert: resolvePath(u.cert) } : {}), ...(u.key ? { key: resolvePath(u.key) } : {}) };
    // http mode speaks HTTP/1.1 to the app; tcp mode does not know the protocol, so offers only what it is told.
    this.alpn = cfg.mode === 'http' ? ['http/1.1'] : u?.alpn;
    this.log = log;
    this.files = [this.cfg?.ca, this.cfg?.cert, this.cfg?.key].filter((f): f is string => !!f);
  }

  /** The name the certificate must carry and the SNI sent (an IP host: checked against IP SANs, no SNI). */
  get serverName(): string {
    return this.cfg?.serverName ?? this.target.host;
  }

  /** Reads the files and builds the context; false when their content is what is loaded already. */
  async load(): Promise<boolean> {
    const u = this.cfg;
    const [ca, cert, key] = await Promise.all([u?.ca, u?.cert, u?.key].map((f) => (f ? readFile(f) : undefined)));
    const content = Buffer.concat([ca, cert, key].map((b) => b ?? Buffer.alloc(0)));
    if (this.loaded?.equals(content)) return false;
    const context = tls.createSecureContext({ minVersion: u?.minVersion ?? 'TLSv1.2', ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) });
    if (cert) {
      const x = new X509Certificate(cert);
      this.clientCert = { subject: x.subject.replace(/\n/g, ','), notAfter: new Date(x.validTo).toISOString() };
    }
    const name = this.serverName;
    const pinned = u?.serverName;
    this.target.tls = {
      secureContext: context,
      ...(isIP(name) ? {} : { servername: name }),
      ...(pinned ? { checkServerIdentity: (_host: string, c: PeerCertificate) => tls.checkServerIdentity(pinned, c) } : {}),
      rejectUnauthorized: !u?.insecureSkipVerify,
      ...(this.alpn ? { ALPNProtocols: this.alpn } : {}),
    };
    this.target.session = undefined; // made under the old files: not offered to the app again
    this.loaded = content;
    return true;
  }

  /** Called by the file watcher: a bad new file keeps the running context. */
  async reload(): Promise<boolean> {
    try {
      if (!(await this.load())) return false;
      this.log.info({ upstream: this.target.label, clientCert: this.clientCert }, 'upstream TLS files reloaded');
      return true;
    } catch (err) {
      this.log.error({ upstream: this.target.label, err: (err as Error).message }, 'upstream TLS files not reloaded: keeping the previous ones');
      return false;
    }
  }

  warnIfInsecure(): void {
    if (!this.cfg?.insecureSkipVerify) return;
    this.log.warn({ upstream: this.target.label }, "upstreamTls.insecureSkipVerify: the app's TLS certificate is NOT verified; anyone who can reach that address can read and change this traffic. Set upstreamTls.ca instead");
  }
}
