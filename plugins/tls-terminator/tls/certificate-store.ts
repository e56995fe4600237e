// Loads the certificate pairs, picks one by SNI, and swaps in renewed files without a restart.
// A new pair is only used once it parses and its key matches its certificate; otherwise the
// old one keeps serving and the refusal is logged and counted.
import { X509Certificate, constants, createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import { loadTls, type PluginContext, SidekickError } from '../../../src/plugin-api.ts';
import type { TlsTerminatorConfig } from '../config-schema.ts';
import type { TerminatorMetrics } from '../metrics.ts';
import { generateSelfSigned } from './self-signed.ts';

const tls = loadTls();

interface PairSource {
  label: string;
  certPath?: string;
  keyPath?: string;
  serverNames?: string[];
}

interface LoadedPair {
  source: PairSource;
  hash: string;
  context: SecureContext;
  options: SecureContextOptions;
  names: string[];
  notAfter: Date;
  subject: string;
}

// TLS 1.3 suites in the server's order: AES-128-GCM first, as Go, BoringSSL and Envoy do (its
// SHA-256 key schedule runs on SHA-NI and it has 10 AES rounds to AES-256's 14: ~9 % of a new
// connection's instructions went to the SHA-384 key schedule), except that a client listing
// ChaCha20 first (no AES hardware) gets ChaCha20 (SSL_OP_PRIORITIZE_CHACHA).
const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';
// Client-initiated renegotiation (TLS 1.2) costs the server a full handshake per request and is
// refused, as nginx does since 1.15.6; TLS 1.3 has no renegotiation at all.
const SERVER_OPTIONS = constants.SSL_OP_CIPHER_SERVER_PREFERENCE | constants.SSL_OP_PRIORITIZE_CHACHA | constants.SSL_OP_NO_RENEGOTIATION;

// RFC 7919's ffdhe2048 group, the dhparam file Mozilla's intermediate config ships (OpenSSL's
// 'auto' picks RFC 3526's group 14 instead, which testssl.sh reports apart from nginx's).
const FFDHE2048 = `-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
`;

export class CertificateError extends SidekickError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SIDEKICK_TLS_CERT', message, options);
  }
}

export class CertificateStore {
  private readonly cfg: TlsTerminatorConfig['tls'];
  private readonly ctx: PluginContext;
  private readonly metrics: TerminatorMetrics;
  private readonly sources: PairSource[];
  private readonly ticketKeys = randomBytes(48); // shared by every context so tickets survive reloads and SNI
  private pairs: LoadedPair[] = [];
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  private caHash = '';
  private caPem?: Buffer;
  private selfSigned?: { cert: string; key: string };
  lastReload?: { at: string; result: 'ok' | 'refused' | 'unchanged'; error?: string };

  constructor(cfg: TlsTerminatorConfig['tls'], ctx: PluginContext, metrics: TerminatorMetrics) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.metrics = metrics;
    const sources: PairSource[] = [];
    if (cfg.cert && cfg.key) sources.push({ label: cfg.cert, certPath: ctx.resolvePath(cfg.cert), keyPath: ctx.resolvePath(cfg.key) });
    for (const c of cfg.certificates) {
      sources.push({ label: c.cert, certPath: ctx.resolvePath(c.cert), keyPath: ctx.resolvePath(c.key), ...(c.serverNames ? { serverNames: c.serverNames } : {}) });
    }
    if (sources.length === 0) sources.push({ label: 'self-signed', serverNames: cfg.selfSignedNames });
    this.sources = sources;
  }

  /** Every file whose change should trigger a reload. */
  files(): string[] {
    const out = this.sources.flatMap((s) => (s.certPath && s.keyPath ? [s.certPath, s.keyPath] : []));
    if (this.cfg.clientCa) out.push(this.ctx.resolvePath(this.cfg.clientCa));
    return out;
  }

  get defaultContext(): SecureContext {
    return this.pairs[0]!.context;
  }

  /** For `tls.Server#setSecureContext`, which serves clients that send no SNI. */
  get defaultOptions(): SecureContextOptions {
    return this.pairs[0]!.options;
  }

  /** First load: any error rejects, so the agent refuses to start on a broken config. */
  async load(): Promise<void> {
    await this.readCa(true);
    const pairs: LoadedPair[] = [];
    for (const source of this.sources) pairs.push(await this.loadPair(source));
    this.install(pairs);
  }

  /** Re-read everything; a pair that fails keeps its previous version. Returns true if anything changed. */
  async reload(): Promise<boolean> {
    let changed = false;
    let refused: string | undefined;
    try {
      if (await this.readCa(false)) changed = true;
    } catch (err) {
      refused = (err as Error).message;
      this.refuse('clientCa', err as Error);
    }
    const next: LoadedPair[] = [];
    for (const [i, source] of this.sources.entries()) {
      const old = this.pairs[i]!;
      try {
        const pair = await this.loadPair(source, changed ? undefined : old.hash);
        if (pair !== old) changed = true;
        next.push(pair);
      } catch (err) {
        refused = (err as Error).message;
        this.refuse(source.label, err as Error);
        next.push(old);
      }
    }
    if (changed) {
      this.install(next);
      this.metrics.certReloads.labels({ result: 'ok' }).inc();
      this.ctx.logger.info({ certificates: next.map((p) => ({ file: p.source.label, names: p.names, notAfter: p.notAfter.toISOString() })) }, 'certificates reloaded');
    }
    this.lastReload = { at: new Date().toISOString(), result: refused ? 'refused' : changed ? 'ok' : 'unchanged', ...(refused ? { error: refused } : {}) };
    return changed;
  }

  /**
   * More than one certificate to choose from. With one, the tls.Server goes without an SNICallback:
   * a custom one makes Node run a JS certificate callback in every handshake.
   */
  get choosesBySni(): boolean {
    return this.sources.length > 1;
  }

  /** SNICallback: exact name, then the closest wildcard, then the default certificate. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const name = servername.toLowerCase();
    let ctx = this.exact.get(name);
    if (!ctx) {
      const dot = name.indexOf('.');
      if (dot > 0) ctx = this.wildcard.get(name.slice(dot + 1));
    }
    cb(null, ctx ?? this.defaultContext);
  };

  summary(): Array<Record<string, unknown>> {
    return this.pairs.map((p) => ({ file: p.source.label, names: p.names, subject: p.subject, notAfter: p.notAfter.toISOString() }));
  }

  private refuse(label: string, err: Error): void {
    this.metrics.certReloads.labels({ result: 'refused' }).inc();
    this.ctx.logger.error({ file: label, err: err.message }, 'new certificate refused; the previous one keeps serving');
  }

  private async readCa(first: boolean): Promise<boolean> {
    if (!this.cfg.clientCa) return false;
    const path = this.ctx.resolvePath(this.cfg.clientCa);
    const pem = await readFile(path).catch((e: Error) => {
      throw new CertificateError(`tls.clientCa: cannot read ${path}: ${e.message}`);
    });
    const hash = createHash('sha256').update(pem).digest('hex');
    if (!first && hash === this.caHash) return false;
    const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!blocks) throw new CertificateError(`tls.clientCa: ${path} holds no PEM certificate`);
    try {
      for (const b of blocks) new X509Certificate(b);
    } catch (e) {
      throw new CertificateError(`tls.clientCa: ${path}: ${(e as Error).message}`);
    }
    this.caHash = hash;
    this.caPem = pem;
    return true;
  }

  private async loadPair(source: PairSource, unchangedIfHash?: string): Promise<LoadedPair> {
    let certPem: string | Buffer;
    let keyPem: string | Buffer;
    if (source.certPath && source.keyPath) {
      // One after the other, so a missing pair always reports the certificate first.
      certPem = await readFile(source.certPath).catch((e: Error) => {
        throw new CertificateError(`cannot read certificate ${source.certPath}: ${e.message}`);
      });
      keyPem = await readFile(source.keyPath).catch((e: Error) => {
        throw new CertificateError(`cannot read key ${source.keyPath}: ${e.message}`);
      });
    } else {
      if (!this.selfSigned) {
        this.selfSigned = generateSelfSigned(source.serverNames ?? ['localhost']);
        this.ctx.logger.warn({ names: source.serverNames }, 'no tls.cert configured: serving a self-signed certificate generated at start (clients will not trust it)');
      }
      ({ cert: certPem, key: keyPem } = this.selfSigned);
    }
    const hash = createHash('sha256').update(certPem).update('\0').update(keyPem).digest('hex');
    const old = this.pairs.find((p) => p.source === source);
    if (unchangedIfHash && hash === unchangedIfHash && old) return old;
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(certPem);
      const key = createPrivateKey(keyPem);
      if (!leaf.checkPrivateKey(key)) throw new Error('private key does not match the certificate');
    } catch (e) {
      throw new CertificateError(`${source.label}: ${(e as Error).message}`);
    }
    const opts: SecureContextOptions = {
      cert: certPem,
      key: keyPem,
      minVersion: this.cfg.minVersion,
      maxVersion: this.cfg.maxVersion,
      // Without tickets OpenSSL falls back to session-id (stateful) resumption, which Node only
      // serves to a 'newSession' listener: none here, so every connection is a full handshake.
      ...(this.cfg.sessionTickets ? { ticketKeys: this.ticketKeys, sessionTimeout: 300 } : {}),
      ciphers: `${TLS13_SUITES}:${this.cfg.ciphers}`,
      ecdhCurve: this.cfg.groups,
      // Without DH parameters the DHE suites of the intermediate list stay unused.
      dhparam: FFDHE2048,
      secureOptions: this.cfg.sessionTickets ? SERVER_OPTIONS : SERVER_OPTIONS | constants.SSL_OP_NO_TICKET,
      ...(this.caPem ? { ca: this.caPem } : {}),
    };
    let context: SecureContext;
    try {
      context = tls.createSecureContext(opts);
    } catch (e) {
      throw new CertificateError(`${source.label}: ${(e as Error).message}`);
    }
    const names = source.serverNames ?? namesOf(leaf);
    return { source, hash, context, options: opts, names, notAfter: new Date(leaf.validTo), subject: leaf.subject.replace(/\n/g, ',') };
  }

  private install(pairs: LoadedPair[]): void {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    // Reverse so the first listed certificate wins a name claimed twice.
    for (const p of [...pairs].reverse()) {
      for (const n of p.names) {
        const lower = n.toLowerCase();
        if (lower.startsWith('*.')) wildcard.set(lower.slice(2), p.context);
        else exact.set(lower, p.context);
      }
      this.metrics.certExpiry.labels({ cert: p.source.label }).set(Math.floor(p.notAfter.getTime() / 1000));
    }
    this.pairs = pairs;
    this.exact = exact;
    this.wildcard = wildcard;
  }
}

function namesOf(cert: X509Certificate): string[] {
  const names = new Set<string>();
  for (const part of (cert.subjectAltName ?? '').split(', ')) if (part.startsWith('DNS:')) names.add(part.slice(4));
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn && names.size === 0) names.add(cn);
  return [...names];
}
