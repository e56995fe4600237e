// tcp mode: the decrypted stream piped to the app's TCP port or unix socket, both ways.
// Not stream.pipe(): two pipes install ~16 closures and a dozen listeners per connection, and a
// tcp-mode connection is often short (one request per connection behind a client that does not
// keep connections alive), so per-connection setup is most of its JavaScript cost. Here each
// socket gets shared listeners that find the other side under a symbol: data is written across,
// a full write pauses the reading side until the writing side drains, an end is passed on as an
// end (half-close), and the client's close tears the app connection down.
// The app's bytes are read into one buffer per front (net's `onread`), not a fresh 64 KiB buffer
// pushed through a Readable per read; a write that goes straight to OpenSSL is encrypted before
// it returns, so only a write Node would queue needs a copy.
import type { OnReadOpts, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AccessLog } from '../access-log.ts';
import { infoOf } from '../connection-info.ts';
import { proxyHeader } from '../tls/proxy-protocol.ts';
import { dial } from '../upstream/dial.ts';
import { isTlsFailure } from '../upstream/tls-failure.ts';
import type { UpstreamTarget } from '../upstream/upstream-target.ts';

const PEER = Symbol('sidekick.tls-terminator.peer');
const PIPE = Symbol('sidekick.tls-terminator.pipe');
type Piped = Socket & { [PEER]: Piped; [PIPE]: TcpPipe };

/** What one tcp-mode front shares with its pipes. */
export interface TcpPipe {
  readonly target: UpstreamTarget;
  readonly log: Logger;
  readonly access: AccessLog | undefined;
  upstreamError(reason: string): void;
  /** A handler threw (a bug): count and log it; the pipe closes both sides itself. */
  internalError(err: unknown, client: Socket): void;
  /** Longest wait for the app's connection (and its TLS handshake) to be up; 0: none. */
  readonly connectTimeoutMs?: number;
  /** Start each app connection with a PROXY protocol header of this version. */
  readonly sendProxyProtocol: 'off' | 'v1' | 'v2';
  /** connect() options: app sockets read into the front's one buffer. */
  readonly read: { onread: OnReadOpts };
}

export function tcpPipe(p: Omit<TcpPipe, 'read'>): TcpPipe {
  // The buffer is a Buffer, so the callback gets one (the typings only promise a Uint8Array).
  return { ...p, read: { onread: { buffer: Buffer.allocUnsafeSlow(64 * 1024), callback: onAppRead as OnReadOpts['callback'] } } };
}

// Every handler below is an event boundary: what it throws closes this pipe, never the process.
function crashed(side: Piped, err: unknown): void {
  try {
    side[PIPE].internalError(err, infoOf(side) ? side : side[PEER]); // the client side carries the connection's info
  } catch {
    // reporting never throws; the pipe closes regardless
  }
  side.destroy();
  side[PEER]?.destroy();
}

function onAppRead(this: Piped, n: number, buf: Buffer): boolean {
  try {
    const client = this[PEER];
    const view = buf.subarray(0, n);
    const queued = client.writableLength !== 0 || client.writableCorked !== 0;
    if (!client.write(queued ? Buffer.from(view) : view)) this.pause();
  } catch (e) {
    crashed(this, e);
  }
  return true; // paused explicitly, so that the client's 'drain' resumes it as it does the other way
}

function onData(this: Piped, chunk: Buffer): void {
  try {
    if (!this[PEER].write(chunk)) this.pause();
  } catch (e) {
    crashed(this, e);
  }
}
function onDrain(this: Piped): void {
  try {
    this[PEER].resume();
  } catch (e) {
    crashed(this, e);
  }
}
function onEnd(this: Piped): void {
  try {
    const peer = this[PEER];
    if (!peer.writableEnded) peer.end();
  } catch (e) {
    crashed(this, e);
  }
}
function onAppError(this: Piped, err: Error & { code?: string }): void {
  try {
    const p = this[PIPE];
    if (isTlsFailure(err)) {
      p.upstreamError('tls');
      p.log.error({ upstream: p.target.label, err: err.code, detail: err.message }, 'TLS to the app failed (certificate not verified or handshake refused); closing the client connection');
    } else {
      p.upstreamError(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'refused' : 'error');
      p.log.warn({ upstream: p.target.label, err: err.code ?? err.message }, 'app connection failed; closing the client connection');
    }
    this[PEER].destroy();
  } catch (e) {
    crashed(this, e);
  }
}
// The app went away without an end (reset, error): the client gets what was already written, then an end.
function onAppClose(this: Piped): void {
  try {
    const client = this[PEER];
    if (!client.writableEnded) client.end();
  } catch (e) {
    crashed(this, e);
  }
}
// Connected (and, for a TLS app, handshaken): no more connect timeout; the pipe itself has none.
function onAppUp(this: Piped): void {
  this.setTimeout(0);
}
function onAppTimeout(this: Piped): void {
  try {
    const p = this[PIPE];
    p.upstreamError('timeout');
    p.log.warn({ upstream: p.target.label, timeoutMs: p.connectTimeoutMs }, 'app connection not up in time; closing the client connection');
    this.destroy();
    this[PEER].destroy();
  } catch (e) {
    crashed(this, e);
  }
}
function onClientError(this: Piped): void {
  this[PEER].destroy();
}
function onClientClose(this: Piped & { started?: number }): void {
  try {
    this[PEER].destroy();
    const access = this[PIPE].access;
    if (!access?.enabled()) return;
    const info = infoOf(this);
    access.connection(info?.clientAddress ?? '', info?.sni ?? '', info?.tlsVersion ?? '', info?.ja4 ?? '',
      this.bytesRead, this.bytesWritten, Math.round(performance.now() - this.started!));
  } catch (e) {
    crashed(this, e);
  }
}

export function pipeToApp(client: TLSSocket, p: TcpPipe): void {
  const app = dial(p.target, p.read) as Piped;
  const c = client as unknown as Piped & { started?: number };
  c.started = performance.now();
  c[PEER] = app;
  c[PIPE] = p;
  app[PEER] = c;
  app[PIPE] = p;
  if (p.sendProxyProtocol !== 'off') {
    // net queues it until the connection is up, ahead of anything the client sends.
    const info = infoOf(client);
    app.write(proxyHeader(p.sendProxyProtocol, info?.clientAddress ?? '', info?.clientPort ?? 0, client.localAddress ?? '', client.localPort ?? 0));
  }
  if (p.connectTimeoutMs) {
    app.setTimeout(p.connectTimeoutMs);
    app.once('timeout', onAppTimeout);
    app.once(p.target.kind === 'tcp' && p.target.secure ? 'secureConnect' : 'connect', onAppUp);
  }
  app.on('drain', onDrain);
  app.on('end', onEnd);
  app.on('error', onAppError);
  app.on('close', onAppClose);
  c.on('data', onData);
  c.on('drain', onDrain);
  c.on('end', onEnd);
  c.on('error', onClientError);
  c.on('close', onClientClose);
  if (!c.readableFlowing) c.resume();
}
