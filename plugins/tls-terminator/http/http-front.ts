// http mode: decrypted client connections are handed to an HTTP/1.1 server or an HTTP/2
// server (chosen by ALPN) that never listen themselves, and every request is proxied to the
// app over a keep-alive pool. Bodies are piped both ways, so backpressure holds end to end.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { loadHttp, loadHttp2 } from '../../../src/plugin-api.ts';
import type { Http2Server, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AccessLog } from '../access-log.ts';
import type { TlsTerminatorConfig } from '../config-schema.ts';
import { type ConnectionInfo, infoOf } from '../connection-info.ts';
import { type ForwardOptions, upstreamHeaders } from './forwarding-headers.ts';
import { fallbackHost, resolveH1, resolveH2 } from './host-rules.ts';
import { INTERNAL_ERROR_RESPONSE, type InternalErrors, type Stage } from '../internal-errors.ts';
import { type BodyFraming, type ExchangeLimits, forward, onUpstreamRead } from '../upstream/proxy-exchange.ts';
import { UpstreamPool } from '../upstream/upstream-pool.ts';
import { type CloseLimits, endWithin } from './bounded-close.ts';
import { ConnectionLimiter } from '../connection-limiter.ts';
import { type FastFront, FastConnection } from './fast-connection.ts';
import type { TerminatorMetrics } from '../metrics.ts';
import { type FrontContext, ProxiedRequest, proxiedRequestOf, responding } from './proxied-request.ts';
import type { UpstreamTarget } from '../upstream/upstream-target.ts';
import { proxyUpgrade } from './upgrade-proxy.ts';
import { Admit, type Protection, type Refusal, refusalText } from '../protect/protection.ts';
import type { RequestView } from '../protect/rate-limits.ts';

const http = loadHttp();

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
  // One handler per server: whether a request is HTTP/2 is known from the server that emitted
  // it, never from the version the client wrote (an HTTP/1 request line may say HTTP/2.0).
  // Each is an event boundary: what the handling throws costs that request, not the process.
  private readonly h1Handler = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      this.handle(req, res, false);
    } catch (e) {
      this.requestCrashed('h1_request', e, req, res);
    }
  };
  private readonly h2Handler = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    try {
      this.handle(req, res, true);
    } catch (e) {
      this.requestCrashed('h2_request', e, req, res);
    }
  };
  readonly errors: InternalErrors;
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
  readonly protection?: Protection;
  /** The request as protection sees it: one object, refilled per request (admit() is synchronous). */
  private readonly view: RequestView = { method: '', path: '', raw: [], lower: undefined, info: NO_INFO };

  constructor(
    cfg: TlsTerminatorConfig, target: UpstreamTarget, log: Logger, metrics: TerminatorMetrics, access: AccessLog | undefined, errors: InternalErrors,
    limiter = new ConnectionLimiter(Infinity, { evicted: () => {} }),
    egressHost?: string,
    protection?: Protection,
  ) {
    if (protection && (protection.rules.length || protection.breaker)) this.protection = protection;
    this.target = target;
    this.errors = errors;
    this.limiter = limiter;
    this.log = log;
    this.metrics = metrics;
    this.fingerprintHeaders = cfg.fingerprint.headers;
    this.forwardOptions = { fingerprintHeaders: cfg.fingerprint.headers, ...(egressHost === undefined ? {} : { egressHost }) };
    const hsts = cfg.hsts && `max-age=${Math.floor(cfg.hsts.maxAge / 1000)}${cfg.hsts.includeSubDomains ? '; includeSubDomains' : ''}`;
    this.context = {
      metrics, access, log, errors, upstreamLabel: target.label, upstreamTimeoutMs: cfg.timeouts.upstream,
      ...(hsts ? { extraResponseHeaders: ['strict-transport-security', hsts] } : {}),
      requestDone: () => void this.inFlight--,
      overloaded: (err) => this.overloaded(err),
    };
    this.limits = { timeoutMs: cfg.timeouts.upstream, stallTimeoutMs: cfg.timeouts.idle, ...(protection?.breaker ? { outcomes: protection.breaker } : {}) };
    const c = cfg.concurrency;
    this.pool = c
      ? new UpstreamPool(target, c.maxRequests, Math.min(c.maxRequests, cfg.limits.upstreamIdleConnections), onUpstreamRead, { maxWaiting: c.maxPending, timeoutMs: c.pendingTimeout })
      : new UpstreamPool(target, cfg.limits.upstreamConnections, cfg.limits.upstreamIdleConnections, onUpstreamRead);
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
        for (const c of this.fast) {
          try {
            c.check(now);
          } catch (e) {
            c.internalError('fast_sweep', e);
          }
        }
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
    this.h1.on('request', this.h1Handler);
    this.h1.on('checkContinue', this.h1Handler); // forward Expect to the app instead of answering 100 ourselves
    this.h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.limiter.busy(req.socket);
        this.upgrade(req, socket, head);
      } catch (e) {
        this.socketCrashed('h1_upgrade', e, socket);
      }
    });
    // CONNECT (authority-form) is not proxied: 400, as nginx (without a listener Node drops the connection).
    this.h1.on('connect', (req: IncomingMessage, socket: Duplex) => {
      try {
        this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
        endWithin(socket, this.closeLimits, simpleResponse('400 Bad Request', 'CONNECT is not supported\n'));
      } catch (e) {
        this.socketCrashed('h1_connect', e, socket);
      }
    });
    this.h1.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      try {
        this.clientError(err, socket);
      } catch (e) {
        this.errors.report('h1_client_error', e, infoOf(socket));
        socket.destroy();
      }
    });
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
    h2.on('request', this.h2Handler);
    h2.on('checkContinue', this.h2Handler);
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

  /**
   * Rate limits, then the circuit breaker: a Refusal to answer with, or whether the request
   * goes as a normal one or as the half-open breaker's probe.
   */
  admit(method: string, path: string, raw: string[], lower: string[] | undefined, info: ConnectionInfo, upgrade = false): Refusal | Admit {
    const p = this.protection;
    if (!p) return Admit.Normal;
    const v = this.view;
    v.method = method;
    v.path = path;
    v.raw = raw;
    v.lower = lower;
    v.info = info;
    const a = p.admit(v, upgrade);
    v.raw = v.lower = undefined as never; // hold no request past the call
    v.info = NO_INFO;
    if (typeof a === 'object') this.metrics.rejected.labels({ reason: a.reason }).inc();
    return a;
  }

  /** The pool's queue was full or too slow: 503, counted by why. */
  overloaded(err: Error & { reason?: string }): Refusal {
    this.metrics.rejected.labels({ reason: err.reason ?? 'queue_full' }).inc();
    // Debug only: under overload this runs for every request; the metric and the access log's note count them.
    this.log.debug({ err: err.message }, 'app overloaded: 503');
    return { status: 503, retryAfter: 1, body: 'app overloaded\n', reason: err.reason === 'queue_timeout' ? 'queue_timeout' : 'queue_full' };
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

  private handle(req: Req, res: Res, h2: boolean): void {
    const info = infoOf(req.socket) ?? NO_INFO;
    if (this.draining && !h2) (res as ServerResponse).shouldKeepAlive = false; // "Connection: close", then close
    const p = new ProxiedRequest(this.context, req, res, info, h2);
    this.inFlight++;
    if (info.forbidden) {
      this.metrics.rejected.labels({ reason: 'client_not_allowed' }).inc();
      req.resume();
      return p.reply(403, 'client certificate not allowed\n', 'client not in allowClients');
    }
    // Node's HTTP/1 parser takes HTTP/0.9 and HTTP/2.0 request lines (it refuses 1.2, 3.0...,
    // see clientError). nginx: 505 for HTTP/2.0 and above, 400 for HTTP/0.x.
    if (!h2 && req.httpVersionMajor !== 1) {
      this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
      req.resume();
      return req.httpVersionMajor === 0
        ? p.reply(400, 'bad request\n', 'HTTP/0.x')
        : p.reply(505, 'HTTP version not supported\n', `HTTP/${req.httpVersion}`);
    }
    const te = h2 ? undefined : req.headers['transfer-encoding'];
    if (te !== undefined) {
      // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing (400, close).
      // Only `chunked` alone is taken, as nginx (501 otherwise): a coding before it (gzip,
      // identity) would be lost when the body is re-chunked for the app.
      const bad = req.httpVersionMinor === 0 ? 400 : te.toLowerCase() !== 'chunked' ? 501 : 0;
      if (bad) {
        this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
        return bad === 400 ? p.reply(400, 'bad request\n', 'transfer-encoding in HTTP/1.0') : p.reply(501, 'transfer coding not supported\n', `transfer-encoding ${te}`);
      }
    }
    const where = h2
      ? resolveH2(req.method ?? '', req.url ?? '', req.headers[':authority'], req.headers.host)
      : resolveH1(req.url ?? '', req.rawHeaders, req.httpVersionMinor >= 1);
    if (typeof where === 'string') {
      this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
      req.resume();
      return p.reply(400, 'bad request\n', where);
    }
    const admitted = this.admit(req.method ?? '', where.path, req.rawHeaders, undefined, info);
    if (typeof admitted === 'object') {
      req.resume();
      return p.refuse(admitted);
    }
    const headers = upstreamHeaders(req.rawHeaders, where.host ?? fallbackHost(info), info, this.forwardOptions);
    let head = `${req.method} ${where.path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    // Framed from what Node parsed (llhttp, nghttp2), never from the client's header lines:
    // llhttp has refused Content-Length with Transfer-Encoding (RFC 9112 6.1 lets a server
    // choose; nginx refuses too), several lengths and a final coding other than chunked;
    // nghttp2 holds DATA to content-length. A declared length, 0 included, is sent as
    // `content-length` and a request without one gets none, as nginx does. A body of unknown
    // length is streamed chunked, as nginx with proxy_request_buffering off (by default it
    // buffers the whole body first to send a length).
    const cl = req.headers['content-length'];
    let body: BodyFraming = 'none';
    let length = 0;
    if (cl !== undefined) {
      if (!/^[0-9]{1,15}$/.test(cl)) {
        this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
        return p.reply(400, 'bad request\n', 'bad content-length');
      }
      body = 'length';
      length = Number(cl);
    } else if (h2 ? !(req as Http2ServerRequest).stream.endAfterHeaders : req.headers['transfer-encoding'] !== undefined) body = 'chunked';
    if (h2 && this.requestTimeoutMs > 0 && !(req as Http2ServerRequest).stream.endAfterHeaders) p.limitRequestTime(this.requestTimeoutMs);
    p.exchange = forward(this.pool, p, head, body, this.limits, length, admitted === Admit.Probe);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const info = infoOf(req.socket) ?? NO_INFO;
    if (info.forbidden) return endWithin(socket, this.closeLimits, 'HTTP/1.1 403 Forbidden\r\nContent-Length: 22\r\nConnection: close\r\n\r\nclient not authorized\n');
    const where = req.httpVersionMajor !== 1 ? 'version' : resolveH1(req.url ?? '', req.rawHeaders, req.httpVersionMinor >= 1);
    // A body on an upgrade request is refused (WebSocket handshakes have none, RFC 6455 4.1):
    // nothing the client sends before the app's 101 may reach the app unframed.
    const bodied = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (typeof where === 'string' || bodied) {
      this.metrics.rejected.labels({ reason: 'bad_request' }).inc();
      this.log.info({ err: typeof where === 'string' ? where : 'body on upgrade', client: info.clientAddress }, 'bad or slow client request rejected');
      return endWithin(socket, this.closeLimits, where === 'version' ? simpleResponse('505 HTTP Version Not Supported', 'HTTP version not supported\n') : simpleResponse('400 Bad Request', 'bad request\n'));
    }
    const admitted = this.admit(req.method ?? '', where.path, req.rawHeaders, undefined, info, true);
    if (typeof admitted === 'object') return endWithin(socket, this.closeLimits, refusalText(admitted, 'connection: close\r\n'));
    proxyUpgrade(req, where.path, where.host ?? fallbackHost(info), socket, head, info, this.target, this.forwardOptions, this.log, this.errors);
  }

  /** A request handler threw: the request it made answers (500 or cut), or, if it made none, we do. */
  private requestCrashed(stage: Stage, err: unknown, req: Req, res: Res): void {
    const p = proxiedRequestOf(res);
    if (p) return p.internalError(stage, err);
    this.errors.report(stage, err, infoOf(req.socket));
    try {
      if (res.headersSent) res.destroy();
      else {
        (res as ServerResponse).writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 15, ...(stage === 'h1_request' ? { connection: 'close' } : {}) });
        res.end('internal error\n');
      }
    } catch {
      try {
        res.destroy();
      } catch {
        // gone already
      }
    }
  }

  /** An upgrade or CONNECT handler threw: the raw connection is ours to answer or close. */
  private socketCrashed(stage: Stage, err: unknown, socket: Duplex): void {
    this.errors.report(stage, err, infoOf(socket));
    try {
      if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) endWithin(socket, this.closeLimits, INTERNAL_ERROR_RESPONSE);
      else socket.destroy();
    } catch {
      socket.destroy();
    }
  }

  private clientError(err: Error & { code?: string }, socket: Duplex): void {
    const code = err.code ?? '';
    this.clientRejected(socket, code || err.message);
    if (!socket.writable || responding(socket)) return void socket.destroy(); // never inside a response
    // HPE_INVALID_VERSION: a well-formed version llhttp does not know (HTTP/1.2, 3.0...) gets
    // 505 (nginx: 505 from 2.0 up, and it serves 1.2-1.9 as 1.1; refusing those too is
    // stricter); anything else llhttp calls a bad version (a request line ending in a bare LF) is
    // a malformed request: 400. `rawPacket` is the documented copy of the bytes it refused.
    const line =
      code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
      : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
      : code === 'HPE_INVALID_VERSION' && WELL_FORMED_LINE.test(String((err as { rawPacket?: Buffer }).rawPacket ?? '')) ? '505 HTTP Version Not Supported'
      : '400 Bad Request';
    endWithin(socket, this.closeLimits, `HTTP/1.1 ${line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  }
}

/** `METHOD target HTTP/d.d` then CRLF: a request line whose only fault can be its version. */
const WELL_FORMED_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [\x21-\x7e]+ HTTP\/[0-9]\.[0-9]\r\n/;

const simpleResponse = (line: string, body: string): string =>
  `HTTP/1.1 ${line}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
