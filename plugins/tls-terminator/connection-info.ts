// What we learn about a client connection before and during the handshake, carried on the
// socket itself under a symbol so both the raw socket and its TLSSocket (and the h2 compat
// layer's socket proxy, which forwards property reads) reach it without a map lookup.
import type { TLSSocket } from 'node:tls';

export const INFO = Symbol('sidekick.tls-terminator.connection');

export interface ClientIdentity {
  subject: string;
  sans: string;
  /** RFC 9440 structured-field byte sequences, computed once per connection. */
  clientCert: string;
  clientCertChain: string;
}

export interface ConnectionInfo {
  clientAddress: string;
  clientPort: number;
  /** The TCP peer (a load balancer when the PROXY protocol is used). */
  peerAddress: string;
  /** Forwarding headers from this client are kept and appended to. */
  trusted: boolean;
  ja3: string;
  ja4: string;
  sni: string;
  tlsVersion: string;
  identity?: ClientIdentity;
  /** mTLS allow-list said no: every request gets 403. */
  forbidden: boolean;
}

export function infoOf(socket: unknown): ConnectionInfo | undefined {
  return (socket as { [INFO]?: ConnectionInfo } | undefined)?.[INFO];
}

export function attachInfo(socket: object, info: ConnectionInfo): void {
  (socket as { [INFO]?: ConnectionInfo })[INFO] = info;
}

/** The raw socket under a server-side TLSSocket (the only handle the tls.Server gives back). */
export function rawSocketOf(tlsSocket: TLSSocket): object | undefined {
  return (tlsSocket as unknown as { _parent?: object })._parent;
}
