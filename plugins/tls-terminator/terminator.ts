// One tls-terminator instance. A plain TCP server accepts; before TLS starts we read an
// optional PROXY header and the whole ClientHello (fingerprint, allow/deny), then hand the
// socket to a non-listening tls.Server for the handshake, then to the HTTP front or the TCP pipe.
import { BlockList, type Server, type Socket, createServer, isIP } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { loadTls, type HealthReport, type PluginContext, type PluginInstance, type StopOptions } from '../../src/plugin-api.ts';
import { type AccessLog, createAccessLog } from './access-log.ts';
import { CertWatcher } from './tls/cert-watcher.ts';
import { CertificateStore } from './tls/certificate-store.ts';
import { type ClientHello, type HelloError, type HelloSink, readHello } from './tls/client-hello-reader.ts';
import { identityOf, isAllowed } from './tls/client-identity.ts';
import type { TlsTerminatorConfig } from './config-schema.ts';
import { type ConnectionInfo, attachInfo, infoOf, peerKey } from './connection-info.ts';
import type { Stage } from './internal-errors.ts';
import { ConnectionLimiter } from './connection-limiter.ts';
import { FingerprintCounts } from './tls/fingerprint-counts.ts';
import { Protection } from './protect/protection.ts';
import { FingerprintCache } from './tls/fingerprint.ts';
import { HttpFront } from './http/http-front.ts';
import { InternalErrors } from './internal-errors.ts';
import { createMetrics } from './metrics.ts';
import { readProxyHeader } from './tls/proxy-protocol.ts';
import { createRedirectServer } from './http/redirect-server.ts';
import { type TcpPipe, pipeToApp, tcpPipe } from './tcp/tcp-pipe.ts';
import { type UpstreamTarget, parseUpstream } from './upstream/upstream-target.ts';
import { UpstreamTls } from './upstream/upstream-tls.ts';

const tls = loadTls();

const OWNER = Symbol('sidekick.tls-terminator.owner');
type Owned = Socket & { [OWNER]?: TlsTerminator };
const noop = () => {};
function onRawClose(this: Owned): void {
  this[OWNER]!.socketClosed(this);
}

function blockList(cidrs: string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    const type = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return list;
}

function inList(list: BlockList | undefined, address: string): boolean {
  if (!list || !address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return list.check(v4, isIP(v4) === 6 ? 'ipv6' : 'ipv4');
}

export class TlsTerminator implements PluginInstance, HelloSink {
  private readonly cfg: TlsTerminatorConfig;
  private readonly ctx: PluginContext;
  private readonly metrics;
  private readonly activeConnections;
  private readonly target: UpstreamTarget;
  private readonly store: CertificateStore;
  private readonly counts = new FingerprintCounts();
  private readonly fingerprints = new FingerprintCache();
  private readonly trusted?: BlockList;
  private readonly proxyFrom?: BlockList;
  private readonly deny: Set<string>;
  private readonly allow?: Set<string>;
  private readonly sockets = new Set<Socket>();
  private readonly handshakeFailures = new Map<string, { inc(): void }>();
  private readonly errors: InternalErrors;
  private readonly limiter: ConnectionLimiter;
  private readonly protection: Protection;
  private readonly byPeer = new Map<string, Socket>();
  private net?: Server;
  private tls?: TlsServer;
  private front?: HttpFront;
  private pipe?: TcpPipe;
  private redirect?: HttpServer;
  private watcher?: CertWatcher;
  private upstreamWatcher?: CertWatcher;
  private upstreamTls?: UpstreamTls;
  private access?: AccessLog;
  private address?: { host: string; port: number };
  private redirectAddress?: { host: string; port: number };
  private stopping?: Promise<void>;

  constructor(cfg: TlsTerminatorConfig, ctx: PluginContext) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.metrics = createMetrics(ctx.metrics);
    this.activeConnections = this.metrics.activeConnections;
    this.errors = new InternalErrors(this.metrics, ctx.logger);
    this.target = parseUpstream(cfg.upstream, ctx.resolvePath);
    this.store = new CertificateStore(cfg.tls, ctx, this.metrics);
    this.trusted = blockList(cfg.trustedProxies);
    this.proxyFrom = cfg.proxyProtocol ? blockList(cfg.proxyProtocol.from) : undefined;
    this.deny = new Set(cfg.fingerprint.deny);
    this.allow = cfg.fingerprint.allow.length ? new Set(cfg.fingerprint.allow) : undefined;
    const evicted = this.metrics.evicted;
    this.limiter = new ConnectionLimiter(cfg.limits.maxConnections, { evicted: (reason) => evicted.labels({ reason }).inc() });
    const trusted = this.trusted;
    this.protection = new Protection(cfg, {
      metrics: ctx.metrics, log: ctx.logger, clock: () => performance.now(), keep: ctx.keep,
      trusted: (address) => isIP(address) !== 0 && inList(trusted, address),
    });
  }

  async start(): Promise<void> {
    const t = this.cfg.tls;
    const outbound = this.cfg.direction === 'outbound';
    const target = this.target;
    if (target.kind === 'tcp' && target.secure) {
      this.upstreamTls = new UpstreamTls(target, this.cfg, this.ctx.resolvePath, this.ctx.logger);
      await this.upstreamTls.load();
      this.upstreamTls.warnIfInsecure();
    }
    if (!outbound) await this.store.load();
    const clientAuth = t.clientAuth ?? (t.clientCa ? 'require' : 'none');
    this.tls = outbound ? undefined : new tls.Server({
      ...this.store.defaultOptions,
      ...(this.store.choosesBySni ? { SNICallback: this.store.sniCallback } : {}),
      ...(this.cfg.mode === 'http' ? { ALPNProtocols: ['h2', 'http/1.1'] } : {}),
      requestCert: clientAuth !== 'none',
      rejectUnauthorized: clientAuth === 'require',
      handshakeTimeout: t.handshakeTimeout,
    });
    // Each handler of a client-driven event is a boundary: an exception costs that connection only.
    this.tls?.on('secureConnection', (s: TLSSocket) => {
      try {
        this.secured(s);
      } catch (e) {
        this.crashed('secured', e, s, infoOf(s) ?? infoOf(this.rawOf(s)));
      }
    });
    this.tls?.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
      try {
        this.failHandshake(handshakeReason(err), err.code ?? err.message, infoOf(this.rawOf(s))?.clientAddress);
      } catch (e) {
        this.errors.report('handshake', e, infoOf(this.rawOf(s)));
      }
      s.destroy();
    });
    if (this.cfg.accessLog) this.access = createAccessLog(this.ctx.logger, this.ctx.name, this.ctx.type, this.ctx.logFormat === 'pretty');
    if (this.cfg.mode === 'http') {
      const egressHost = outbound && this.upstreamTls ? authority(this.upstreamTls.serverName, (this.target as { port: number }).port) : undefined;
      this.front = new HttpFront(this.cfg, this.target, this.ctx.logger, this.metrics, this.access, this.errors, this.limiter, egressHost, this.protection);
    }
    else {
      const upstreamErrors = this.metrics.upstreamErrors;
      this.pipe = tcpPipe({
        target: this.target,
        log: this.ctx.logger,
        access: this.access,
        sendProxyProtocol: this.cfg.sendProxyProtocol,
        connectTimeoutMs: this.cfg.timeouts.upstream,
        upstreamError: (reason) => upstreamErrors.labels({ reason }).inc(),
        internalError: (err, client) => this.errors.report('tcp', err, infoOf(client)),
      });
    }

    // Not net.Server#maxConnections, which refuses at the limit even when idle connections hold it.
    const server = createServer({ noDelay: true }, (socket) => void (this.admitted(socket) && this.accept(socket)));
    const { host, port } = this.cfg.listen;
    this.address = await listen(server, host, port);
    this.net = server;
    server.on('error', (err) => this.ctx.fail(err));
    if (this.cfg.redirectHttp) {
      const r = this.cfg.redirectHttp;
      this.redirect = createRedirectServer(r.httpsPort ?? this.address.port);
      this.redirectAddress = await listen(this.redirect, r.listen.host, r.listen.port);
    }
    if (!outbound) this.watcher = new CertWatcher(this.store.files(), () => this.reloadCertificates(), this.ctx.logger, t.reloadCheckInterval);
    const u = this.upstreamTls;
    if (u && u.files.length) this.upstreamWatcher = new CertWatcher(u.files, () => this.reloadUpstreamTls(u), this.ctx.logger, t.reloadCheckInterval);
    this.ctx.logger.info({
      listen: `${this.address.host}:${this.address.port}`, upstream: this.target.label, mode: this.cfg.mode, direction: this.cfg.direction,
      ...(outbound ? { clientCert: u?.clientCert?.subject ?? null } : { clientAuth, certificates: this.store.summary() }), ...(this.redirectAddress ? { redirect: `${this.redirectAddress.host}:${this.redirectAddress.port}` } : {}),
    }, 'tls-terminator listening');
  }

  /** New upstream TLS files: idle app connections close, so the next request presents the new certificate. */
  private async reloadUpstreamTls(u: UpstreamTls): Promise<void> {
    if (await u.reload()) this.front?.pool.dropIdle();
  }

  private async reloadCertificates(): Promise<void> {
    if (await this.store.reload()) this.tls?.setSecureContext(this.store.defaultOptions);
  }

  /** limits.maxConnections: room is made by closing the oldest idle connection, else this one is refused. */
  private admitted(socket: Socket): boolean {
    if (this.limiter.admit(this.sockets.size)) return true;
    this.metrics.rejected.labels({ reason: 'max_connections' }).inc();
    socket.on('error', noop);
    socket.destroy();
    return false;
  }

  // Synchronous, with shared listeners and no closure per connection: behind clients that do not
  // keep connections alive this runs for every request.
  private accept(socket: Socket): void {
    try {
      this.accepted(socket);
    } catch (e) {
      this.crashed('accept', e, socket, infoOf(socket));
    }
  }

  /** A boundary caught `err`: count and log it, close this one connection (no HTTP spoken yet). */
  private crashed(stage: Stage, err: unknown, socket: Socket, info: ConnectionInfo | undefined): void {
    this.errors.report(stage, err, info);
    socket.destroy();
  }

  private accepted(socket: Socket): void {
    this.metrics.connections.inc();
    this.activeConnections.inc();
    this.sockets.add(socket);
    this.byPeer.set(peerKey(socket), socket); // reads remoteAddress now: Node keeps it for after the close
    (socket as Owned)[OWNER] = this;
    socket.on('close', onRawClose);
    socket.on('error', noop); // resets from clients are routine; the close handler cleans up
    const peer = socket.remoteAddress ?? '';
    const info: ConnectionInfo = {
      clientAddress: peer.startsWith('::ffff:') ? peer.slice(7) : peer, clientPort: socket.remotePort ?? 0, peerAddress: peer,
      trusted: false, ja3: '', ja4: '', sni: '', tlsVersion: '', forbidden: false,
    };
    attachInfo(socket, info);
    if (this.cfg.direction === 'outbound') return this.handOver(socket as TLSSocket, info);
    if (this.proxyFrom && inList(this.proxyFrom, peer)) return void this.readProxied(socket, info);
    info.trusted = inList(this.trusted, info.clientAddress);
    readHello(socket, this.cfg.tls.handshakeTimeout, this);
  }

  private async readProxied(socket: Socket, info: ConnectionInfo): Promise<void> {
    try {
      const real = await readProxyHeader(socket, this.cfg.tls.handshakeTimeout);
      if (real) ({ address: info.clientAddress, port: info.clientPort } = real);
    } catch (err) {
      this.failHandshake('proxy_protocol', (err as Error).message, info.clientAddress);
      return void socket.destroy();
    }
    try {
      info.trusted = inList(this.trusted, info.clientAddress);
      readHello(socket, this.cfg.tls.handshakeTimeout, this);
    } catch (e) {
      this.crashed('accept', e, socket, info); // a rejected promise here would be unhandled: the process would exit
    }
  }

  // HelloSink: called from the reader's socket listeners, so each is a boundary.
  helloRead(socket: Socket, hello: ClientHello): void {
    try {
      this.routeHello(socket, hello);
    } catch (e) {
      this.crashed('hello', e, socket, infoOf(socket));
    }
  }

  private routeHello(socket: Socket, hello: ClientHello): void {
    const info = infoOf(socket)!;
    const { ja3, ja4 } = this.fingerprints.of(hello);
    this.counts.add(ja4);
    if (this.deny.has(ja4) || this.deny.has(ja3) || (this.allow && !this.allow.has(ja4) && !this.allow.has(ja3))) {
      this.metrics.rejected.labels({ reason: 'fingerprint' }).inc();
      this.ctx.logger.info({ client: info.clientAddress, ja3, ja4 }, 'connection refused by fingerprint policy');
      return void socket.destroy();
    }
    info.ja3 = ja3;
    info.ja4 = ja4;
    if (!this.tls) return void socket.destroy();
    // Paused, with the ClientHello unshifted: the TLS socket feeds those bytes to OpenSSL first.
    this.tls.emit('connection', socket);
  }

  helloFailed(socket: Socket, err: HelloError): void {
    try {
      this.failHandshake(err.reason, err.message, infoOf(socket)?.clientAddress);
      if (err.reason === 'plain_http' && socket.writable) {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 35\r\nConnection: close\r\n\r\nThis port expects HTTPS, not HTTP.\n');
        setTimeout(() => socket.destroy(), 1000).unref();
      } else socket.destroy();
    } catch (e) {
      this.crashed('hello', e, socket, infoOf(socket));
    }
  }

  /** A raw client socket closed (see onRawClose). */
  socketClosed(socket: Socket): void {
    this.activeConnections.dec();
    this.sockets.delete(socket);
    const key = peerKey(socket);
    if (this.byPeer.get(key) === socket) this.byPeer.delete(key);
  }

  /** The raw socket under a server-side TLSSocket (the tls.Server hands out only the latter). */
  private rawOf(s: TLSSocket): Socket | undefined {
    return this.byPeer.get(peerKey(s));
  }

  private secured(s: TLSSocket): void {
    const info = infoOf(this.rawOf(s));
    if (!info) return void s.destroy();
    info.sni = (s as TLSSocket & { servername?: string | false }).servername || '';
    info.tlsVersion = s.getProtocol() ?? '';
    if (this.cfg.tls.clientCa) {
      info.identity = identityOf(s);
      if (!isAllowed(info.identity, this.cfg.tls.allowClients) && (this.cfg.tls.allowClients || this.cfg.tls.clientAuth === 'require')) {
        info.forbidden = true;
        this.ctx.logger.info({ client: info.clientAddress, subject: info.identity?.subject, san: info.identity?.sans }, 'client certificate not in allowClients');
      }
    }
    attachInfo(s, info);
    s.on('error', () => {});
    this.handOver(s, info);
  }

  /**
   * To the HTTP front or the TCP pipe: a TLS socket (inbound), or the plain socket the app
   * connected with (outbound), which both use only as a Duplex with the connection's info.
   */
  private handOver(s: TLSSocket, info: ConnectionInfo): void {
    if (this.front) return this.front.accept(s);
    if (info.forbidden) {
      this.metrics.rejected.labels({ reason: 'client_not_allowed' }).inc();
      return void s.destroy();
    }
    pipeToApp(s, this.pipe!);
  }

  private failHandshake(reason: string, detail: string, client: string | undefined): void {
    let c = this.handshakeFailures.get(reason);
    if (!c) this.handshakeFailures.set(reason, (c = this.metrics.handshakeFailures.labels({ reason })));
    c.inc();
    this.ctx.logger.debug({ reason, detail, client }, 'connection closed before the TLS handshake finished');
  }

  health(): HealthReport {
    const ejected = this.protection.notReady();
    const ready = !!this.address && !this.stopping && !ejected;
    const pool = this.front?.pool.size;
    const protect = this.protection.status();
    return {
      ready,
      ...(ready ? {} : { reason: this.stopping ? 'stopping' : !this.address ? 'not listening' : ejected }),
      details: {
        listen: this.address ? `${this.address.host}:${this.address.port}` : undefined,
        port: this.address?.port,
        ...(this.redirectAddress ? { redirectPort: this.redirectAddress.port } : {}),
        upstream: this.target.label,
        mode: this.cfg.mode,
        activeConnections: this.sockets.size,
        inFlightRequests: this.front?.inFlight ?? 0,
        ...(pool ? { app: { connections: pool.open, idle: pool.idle, queued: pool.waiting } } : {}),
        ...(Object.keys(protect).length ? { protection: protect } : {}),
        direction: this.cfg.direction,
        ...(this.cfg.direction === 'outbound' ? {} : { certificates: this.store.summary(), lastCertReload: this.store.lastReload }),
        ...(this.upstreamTls?.clientCert ? { upstreamClientCert: this.upstreamTls.clientCert } : {}),
        fingerprints: { total: this.counts.total, distinct: this.counts.distinct, top: this.counts.top(this.cfg.fingerprint.topN) },
      },
    };
  }

  stop(opts: StopOptions): Promise<void> {
    this.stopping ??= this.doStop(opts);
    return this.stopping;
  }

  private async doStop({ deadline, signal }: StopOptions): Promise<void> {
    this.watcher?.close();
    this.upstreamWatcher?.close();
    this.redirect?.close();
    this.redirect?.closeAllConnections();
    this.net?.close(); // its callback waits for every connection: we drain those ourselves below
    this.front?.beginDrain();
    // Sockets mid-handshake, mid-request, or tcp-mode pipes (no request boundary) get until the deadline.
    while (this.sockets.size > 0 && !signal.aborted && Date.now() < deadline) {
      this.front?.closeIdle();
      await new Promise((r) => setTimeout(r, 50));
    }
    if (this.sockets.size > 0) {
      this.ctx.logger.warn({ connections: this.sockets.size }, 'drain deadline reached: closing remaining connections');
      for (const s of this.sockets) s.destroy();
    }
    this.front?.destroy();
    this.access?.close();
    this.ctx.logger.info('tls-terminator stopped');
  }
}

function listen(server: Server | HttpServer, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
    });
  });
}

/** Host header value for a destination: the port only when it is not 443. */
function authority(host: string, port: number): string {
  const h = isIP(host) === 6 ? `[${host}]` : host;
  return port === 443 ? h : `${h}:${port}`;
}

function handshakeReason(err: Error & { code?: string }): string {
  const code = err.code ?? '';
  const msg = err.message;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|certificate required/i.test(msg + code)) return 'no_client_cert';
  if (/CERTIFICATE|UNKNOWN_CA|verify/i.test(msg + code)) return 'bad_client_cert';
  if (/VERSION|PROTOCOL/i.test(msg + code)) return 'version';
  if (/CIPHER|SHARED/i.test(msg + code)) return 'no_shared_cipher';
  return 'other';
}
