// What we learn about a client connection before and during the handshake, carried on the
// socket itself under a symbol so both the raw socket and its TLSSocket (and the h2 compat
// layer's socket proxy, which forwards property reads) reach it without a map lookup.

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

/**
 * The key that finds a server-side TLSSocket's raw socket: Node gives no public handle from one
 * to the other, but a TLSSocket's remoteAddress and remotePort are its raw socket's (public
 * getters), and no two open connections to one listener share them.
 */
export function peerKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
