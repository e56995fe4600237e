// mTLS: the verified client certificate as RFC 9440 headers, and the allow-list check.
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import type { TlsTerminatorConfig } from '../config-schema.ts';
import type { ClientIdentity } from '../connection-info.ts';

export function identityOf(socket: TLSSocket): ClientIdentity | undefined {
  if (!socket.authorized) return undefined;
  const leaf: DetailedPeerCertificate = socket.getPeerCertificate(true);
  if (!leaf?.raw) return undefined;
  const chain: string[] = [];
  const seen = new Set<PeerCertificate>([leaf]);
  for (let c: DetailedPeerCertificate | undefined = leaf.issuerCertificate; c && !seen.has(c) && c.raw; c = c.issuerCertificate) {
    seen.add(c);
    chain.push(`:${c.raw.toString('base64')}:`);
  }
  return {
    subject: headerSafe(
      Object.entries(leaf.subject ?? {})
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
        .join(','),
    ),
    sans: headerSafe(leaf.subjectaltname ?? ''),
    clientCert: `:${leaf.raw.toString('base64')}:`,
    clientCertChain: chain.join(', '),
  };
}

export type AllowList = NonNullable<TlsTerminatorConfig['tls']['allowClients']>;

export function isAllowed(identity: ClientIdentity | undefined, allow: AllowList | undefined): boolean {
  if (!allow) return true;
  if (!identity) return false;
  if (allow.subjects.includes(identity.subject)) return true;
  if (!identity.sans || allow.sans.length === 0) return false;
  const sans = identity.sans.split(', ').map((s) => s.replace(/^IP Address:/, 'IP:'));
  return allow.sans.some((pattern) =>
    pattern.endsWith('*') ? sans.some((s) => s.startsWith(pattern.slice(0, -1))) : sans.includes(pattern),
  );
}

/** Certificate fields may hold any bytes; as header values they must not carry CR, LF or other controls. */
function headerSafe(value: string): string {
  return value.replace(/[\x00-\x1f\x7f]/g, '?');
}
