// http mode: decrypted client connections are handed to an HTTP/1.1 server or an HTTP/2
// server (chosen by ALPN) that never listen themselves, and every request is proxied to the
// app over a keep-alive pool. Bodies are piped both ways, so backpressure holds end to end.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { http, loadHttp2 } from '../../../src/builtin-modules.ts';
import type { Http2Server, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AccessLog } from '../access-log.ts';
import type { TlsTerminatorConfig } from '../config-schema.ts';
import { type ConnectionInfo, infoOf } from '../connection-info.ts';
import { type ForwardOptions, upstreamHeaders } from './forwarding-headers.ts';
import { type BodyFraming, type ExchangeLimits, forward, onUpstreamRead } from '../upstream/proxy-exchange.ts';
import { UpstreamPool } from '../upstream/upstream-pool.ts';
import { type CloseLimits, endWithin } from './bounded-close.ts';
import { ConnectionLimiter } from '../connection-limiter.ts';
import { type FastFront, FastConnection } from './fast-connection.ts';
import type { TerminatorMetrics } from '../metrics.ts';
import { type FrontContext, ProxiedRequest } from './proxied-request.ts';
import type { UpstreamTarget } from '../upstream/upstream-target.ts';
import { proxyUpgrade } from './upgrade-proxy.ts';

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

const NODE_REQUESTS = Symbol('sidekick.tls-terminator.node-requests');

const NO_INFO: ConnectionInfo = {
  clientAddress: '', clientPort: 0, peerAddress: '', trusted: false, ja3: '', ja4: '', sni: '', tlsVersion: '', forbidden: false,
};

export class HttpFront implements FastFront {
  private readonly h1: HttpServer;
  /** Made on the first h2 connection (see loadHttp2). */
  private h2?: Http2Server;
  private readonly handler = (req: Req, res: Res): void => this.handle(req, res);
  readonly pool: UpstreamPool;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly target: UpstreamTarget;
  private readonly log: Logger;
  private readonly metrics: TerminatorMetrics;
  readonly fingerprintHeaders: boolean;
  readonly forwardOptions: ForwardOptions;
  inFlight = 0;
  draining = false;
  readonly context: FrontContext;
  readonly limits: ExchangeLimits;
  // The HTTP/1.1 fast path (fast-connection.ts) and its one timeout sweep.
  private readonly fast = new Set<FastConnection>();
  private readonly sweep?: NodeJS.Timeout;
  readonly fastPath: boolean;
  readonly maxHeaderSize: number;
  readonly maxHeaders: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly closeLimits: CloseLimits;
  readonly limiter: ConnectionLimiter;
  readonly extraHeadText: string;

  constructor(
    cfg: TlsTerminatorConfig, target: UpstreamTarget, log: Logger, metrics: TerminatorMetrics, access: AccessLog | undefined,
    limiter = new ConnectionLimiter(Infinity, { evicted: () => {} }),
  ) {
    this.target = target;
    this.limiter = limiter;
    this.log = log;
    this.metrics = metrics;
    this.fingerprintHeaders = cfg.fingerprint.headers;
    this.forwardOptions = { fingerprintHeaders: cfg.fingerprint.headers };
    const hsts = cfg.hsts && `max-age=${Math.floor(cfg.hsts.maxAge / 1000)}${cfg.hsts.includeSubDomains ? '; includeSubDomains' : ''}`;
    this.context = {
      metrics, access, log, upstreamLabel: target.label, upstreamTimeoutMs: cfg.timeouts.upstream,
      ...(hsts ? { extraResponseHeaders: ['strict-transport-security', hsts] } : {}),
      requestDone: () => void this.inFlight--,
    };
    this.limits = { timeoutMs: cfg.timeouts.upstream, stallTimeoutMs: cfg.timeouts.idle };
    this.pool = new UpstreamPool(target, cfg.limits.upstreamConnections, cfg.limits.upstreamIdleConnections, onUpstreamRead);
    const t = cfg.timeouts;
    this.fastPath = cfg.http1FastPath;
    this.maxHeaderSize = cfg.limits.maxHeaderSize;
    this.maxHeaders = cfg.limits.maxHeaders;
    this.headersTimeoutMs = t.headers;
    this.requestTimeoutMs = t.request;
    this.idleTimeoutMs = t.idle;
    this.closeLimits = { sendTimeoutMs: t.send, lingeringTimeMs: t.lingeringTime, lingeringTimeoutMs: t.lingeringTimeout };
    this.extraHeadText = hsts ? `strict-transport-security: ${hsts}\r\n` : '';
    const checkEvery = Math.min(1000, Math.max(100, Math.floor(t.headers / 4)));
    if (this.fastPath) {
      this.sweep = setInterval(() => {
        const now = performance.now();
        for (const c of this.fast) c.check(now);
      }, checkEvery).unref();
    }
    this.h1 = http.createServer({
      maxHeaderSize: cfg.limits.maxHeaderSize,
      headersTimeout: t.headers,
      requestTimeout: t.request,
      keepAliveTimeout: t.idle,
      connectionsCheckingInterval: checkEvery,
      noDelay: true,
    });
    // More fields than this fail the parse with HPE_HEADER_OVERFLOW: clientError answers 431 (Node 22
    // refuses, it does not truncate; the createServer option of that name does not exist).
    this.h1.maxHeadersCount = cfg.limits.maxHeaders;
    // Node's path tells the connection limiter when a connection is between requests; first, so
    // that a request the handler ends at once is counted before it is done.
    this.h1.on('request', this.nodeRequestStarted);
    this.h1.on('checkContinue', this.nodeRequestStarted);
    this.h1.on('request', this.handler);
    this.h1.on('checkContinue', this.handler); // forward Expect to the app instead of answering 100 ourselves
    this.h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.limiter.busy(req.socket);
      const info = infoOf(req.socket) ?? NO_INFO;
      if (info.forbidden) return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 22\r\nConnection: close\r\n\r\nclient not authorized\n');
      proxyUpgrade(req, socket, head, info, this.target, this.fingerprintHeaders, this.log);
    });
    this.h1.on('clientError', (err: Error & { code?: string }, socket: Duplex) => this.clientError(err, socket));
    // The h1 server never listens, so start its timeout checker (headers/request timeouts) by hand.
    this.h1.emit('listening');
  }

  /** A finished handshake: route by ALPN. */
  accept(socket: TLSSocket): void {
    if (socket.alpnProtocol === 'h2') return void (this.h2 ??= this.createH2()).emit('connection', socket);
    const info = infoOf(socket);
    if (this.fastPath && info && !info.forbidden && !this.draining) this.fast.add(new FastConnection(this, socket, info));
    else {
      this.limiter.idle(socket, 'no_request');
      this.h1.emit('connection', socket);
    }
  }

  // Requests in progress per Node's-path connection (pipelined ones overlap): idle at 0.
  private readonly nodeRequestStarted = (req: IncomingMessage, res: ServerResponse): void => {
    const s = req.socket as Duplex & { [NODE_REQUESTS]?: number };
    s[NODE_REQUESTS] = (s[NODE_REQUESTS] ?? 0) + 1;
    this.limiter.busy(s);
    res.once('finish', () => this.nodeRequestDone(s, res));
  };

  private nodeRequestDone(s: Duplex & { [NODE_REQUESTS]?: number }, res: ServerResponse): void {
    s[NODE_REQUESTS] = (s[NODE_REQUESTS] ?? 1) - 1;
    if (s[NODE_REQUESTS] === 0 && res.shouldKeepAlive) this.limiter.idle(s, 'keepalive');
  }

  private createH2(): Http2Server {
    // Bounded streams per session (Node's default is unlimited); Node itself mitigates rapid-reset floods.
    const h2 = loadHttp2().createServer({
      maxSessionMemory: 32,
      settings: { maxHeaderListSize: this.maxHeaderSize, maxConcurrentStreams: 128 },
      maxHeaderListPairs: this.maxHeaders + 4, // + the four request pseudo-headers
    });
    h2.setTimeout(this.idleTimeoutMs);
    h2.on('request', this.handler);
    h2.on('checkContinue', this.handler);
    h2.on('session', (s: ServerHttp2Session) => {
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
      s.on('error', () => {});
    });
    h2.on('sessionError', () => {});
    return h2;
  }

  // FastFront
  requestStarted(): void {
    this.inFlight++;
  }

  clientRejected(socket: Duplex, code: string): void {
    const reason = code === 'HPE_HEADER_OVERFLOW' ? 'header_too_large' : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'timeout' : 'bad_request';
    this.metrics.rejected.labels({ reason }).inc();
    this.log.info({ err: code, client: infoOf(socket)?.clientAddress }, 'bad or slow client request rejected');
  }

  handOff(socket: TLSSocket, reason: string): void {
    this.metrics.handOffs.labels({ reason }).inc();
    this.limiter.busy(socket); // a request head is already there
    this.h1.emit('connection', socket);
    socket.resume();
  }

  forget(c: FastConnection): void {
    this.fast.delete(c);
  }

  activeSessions(): number {
    return this.sessions.size;
  }

  /** Stop taking new requests on existing connections; idle ones close now, busy ones after their response. */
  beginDrain(): void {
    this.draining = true;
    this.closeIdle();
  }

  /** Called repeatedly while draining: h1 connections between requests and h2 sessions (GOAWAY) close. */
  closeIdle(): void {
    for (const s of this.sessions) {
      if (s.closed || s.destroyed) continue;
      s.goaway(); // NO_ERROR, last stream id = the last one processed: those finish, the client opens no more
      s.close();
    }
    for (const c of this.fast) c.closeIfIdle();
    this.h1.closeIdleConnections();
  }

  destroy(): void {
    this.h1.close(() => {}); // stops the headers/request timeout checker
    this.h1.closeAllConnections();
    clearInterval(this.sweep);
    for (const c of this.fast) c.socket.destroy();
    for (const s of this.sessions) s.destroy();
    this.pool.close();
  }

  private handle(req: Req, res: Res): void {
    const info = infoOf(req.socket) ?? NO_INFO;
    const h2 = req.httpVersionMajor === 2;
    if (this.draining && !h2) (res as ServerResponse).shouldKeepAlive = false; // "Connection: close", then close
    this.inFlight++;
    const p = new ProxiedRequest(this.context, req, res, info, h2);
    if (info.forbidden) {
      this.metrics.rejected.labels({ reason: 'client_not_allowed' }).inc();
      req.resume();
      return p.reply(403, 'client certificate not allowed\n', 'client not in allowClients');
    }
    if (h2 && !isPlainTarget(req.url ?? '')) {
      this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
      return p.reply(400, 'bad request target\n', 'bad :path');
    }
    // HTTP/1.0 clients may omit Host; the app gets the SNI name (or localhost) rather than none.
    const host = (h2 ? ((req.headers[':authority'] as string | undefined) ?? req.headers.host) : req.headers.host) ?? (info.sni || 'localhost');
    const headers = upstreamHeaders(req.rawHeaders, host, info, this.forwardOptions);
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    const body: BodyFraming =
      req.headers['content-length'] !== undefined ? 'length'
      : h2 ? ((req as Http2ServerRequest).stream.endAfterHeaders ? 'none' : 'chunked')
      : req.headers['transfer-encoding'] !== undefined ? 'chunked' : 'none';
    if (h2 && this.requestTimeoutMs > 0 && !(req as Http2ServerRequest).stream.endAfterHeaders) p.limitRequestTime(this.requestTimeoutMs);
    p.exchange = forward(this.pool, p, head, body, this.limits);
  }

  private clientError(err: Error & { code?: string }, socket: Duplex): void {
    const code = err.code ?? '';
    this.clientRejected(socket, code || err.message);
    if (!socket.writable || (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) return void socket.destroy();
    const line =
      code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
      : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
      : '400 Bad Request';
    endWithin(socket, this.closeLimits, `HTTP/1.1 ${line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  }
}

/** The request line we write to the app must not be splittable: printable ASCII, no spaces. */
function isPlainTarget(url: string): boolean {
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return url.length > 0;
}
