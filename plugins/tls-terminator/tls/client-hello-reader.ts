// Reads the whole ClientHello off a raw socket before TLS starts, even when the client split
// it over several TLS records (read-tls-client-hello only reads the first record), with a
// size cap and a timeout of our own. The bytes are put back for the TLS layer to read.
import type { Socket } from 'node:net';
import type { TlsClientHelloMessage } from 'read-tls-client-hello';
import { helloKey, parseClientHello } from './client-hello-parser.ts';
import { SidekickError } from '../../../src/plugin-api.ts';

const MAX_HELLO = 32 * 1024; // real ClientHellos are < 2 KiB, or ~ 8 KiB with post-quantum key shares

export type HelloFailure = 'not_tls' | 'plain_http' | 'truncated' | 'oversized' | 'malformed' | 'timeout';

export class HelloError extends SidekickError {
  readonly reason: HelloFailure;
  constructor(reason: HelloFailure, message: string) {
    super('ERR_SIDEKICK_TLS_CLIENT_HELLO', message);
    this.reason = reason;
  }
}

/**
 * A whole ClientHello, structurally checked. `key` is what its fingerprints depend on (see
 * helloKey); the full parse into the library's structure happens only when asked for, which a
 * fingerprint cache hit never does.
 */
export class ClientHello {
  readonly handshake: Buffer;
  readonly key: string;
  private parsed?: { hello: TlsClientHelloMessage; firstAlpn?: Buffer };

  constructor(handshake: Buffer) {
    this.key = helloKey(handshake);
    this.handshake = handshake;
  }

  get hello(): TlsClientHelloMessage {
    return (this.parsed ??= parseClientHello(this.handshake)).hello;
  }

  /** First ALPN value as raw bytes: the library decodes it as 7-bit ASCII, JA4 needs the bytes. */
  get firstAlpn(): Buffer | undefined {
    return (this.parsed ??= parseClientHello(this.handshake)).firstAlpn;
  }
}

/** Told how reading a socket's ClientHello ended (one object per listener: no closure per connection). */
export interface HelloSink {
  helloRead(socket: Socket, hello: ClientHello): void;
  helloFailed(socket: Socket, err: HelloError): void;
}

const READ = Symbol('sidekick.tls-terminator.hello');
type Reading = Socket & { [READ]?: HelloRead };

/** Per-connection state while the hello arrives; most hellos come in one read, and then it is a single step. */
class HelloRead {
  readonly sink: HelloSink;
  readonly timer: NodeJS.Timeout;
  pending?: Buffer;

  constructor(socket: Reading, sink: HelloSink, timeoutMs: number) {
    this.sink = sink;
    this.timer = setTimeout(onTimeout, timeoutMs, socket);
  }
}

// Shared listeners; `this` is the socket.
function onData(this: Reading, chunk: Buffer): void {
  const r = this[READ]!;
  const buf = r.pending ? Buffer.concat([r.pending, chunk]) : chunk;
  const result = assemble(buf);
  if (result === 'more') {
    r.pending = buf;
    if (buf.length > MAX_HELLO) finish(this, new HelloError('oversized', 'ClientHello larger than 32 KiB'));
  } else if (typeof result === 'string') finish(this, new HelloError(result, describe(result, buf)));
  else finish(this, undefined, result, buf);
}
function onEnd(this: Reading): void {
  finish(this, new HelloError('truncated', 'connection closed before a whole ClientHello arrived'));
}
function onTimeout(socket: Reading): void {
  finish(socket, new HelloError('timeout', 'no complete ClientHello within the handshake timeout'));
}

function finish(socket: Reading, err: HelloError | undefined, handshake?: Buffer, bytes?: Buffer): void {
  const r = socket[READ];
  if (!r) return;
  socket[READ] = undefined;
  clearTimeout(r.timer);
  socket.removeListener('data', onData);
  socket.removeListener('end', onEnd);
  socket.removeListener('close', onEnd);
  socket.pause();
  if (err) return r.sink.helloFailed(socket, err);
  socket.unshift(bytes!);
  let hello: ClientHello;
  try {
    hello = new ClientHello(handshake!);
  } catch (e) {
    return r.sink.helloFailed(socket, new HelloError('malformed', `malformed ClientHello: ${(e as Error).message}`));
  }
  r.sink.helloRead(socket, hello);
}

/**
 * Reads until the ClientHello has fully arrived, then calls `sink.helloRead` with the socket left
 * paused and every byte read so far unshifted; or `sink.helloFailed` (socket untouched otherwise).
 */
export function readHello(socket: Socket, timeoutMs: number, sink: HelloSink): void {
  (socket as Reading)[READ] = new HelloRead(socket, sink, timeoutMs);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.resume(); // a PROXY header reader before us left the socket paused
}

/** readHello as a promise (tests, and anything not on the accept path). */
export function readClientHello(socket: Socket, timeoutMs: number): Promise<ClientHello> {
  return new Promise((resolve, reject) => readHello(socket, timeoutMs, { helloRead: (_s, h) => resolve(h), helloFailed: (_s, e) => reject(e) }));
}

function describe(reason: HelloFailure, buf: Buffer): string {
  if (reason === 'plain_http') return 'plain HTTP sent to the TLS port';
  return `not a TLS ClientHello (first bytes ${buf.subarray(0, 8).toString('hex')})`;
}

/** The handshake message (type 1) once complete across records; 'more' if not there yet. */
function assemble(buf: Buffer): Buffer | 'more' | HelloFailure {
  if (buf[0] !== 0x16) return /^[A-Z]{3,7} /.test(buf.subarray(0, 8).toString('latin1')) ? 'plain_http' : 'not_tls';
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16 || buf[off + 1] !== 0x03) return 'malformed';
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) return 'malformed';
    if (off + 5 + len > buf.length) return 'more';
    const frag = buf.subarray(off + 5, off + 5 + len);
    parts.push(frag);
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = parts.length === 1 ? frag : Buffer.concat(parts);
      if (head[0] !== 0x01) return 'malformed';
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO) return 'oversized';
    }
    if (need >= 0 && have >= need) return (parts.length === 1 ? frag : Buffer.concat(parts)).subarray(0, need);
  }
  return 'more';
}
