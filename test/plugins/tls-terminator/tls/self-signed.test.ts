// The DER writer behind the generated certificate: every output must be valid DER that
// OpenSSL loads (a non-minimal serial INTEGER once failed 1 start in 128).
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../../../plugins/tls-terminator/tls/self-signed.ts';

describe('generateSelfSigned', () => {
  it('produces certificates OpenSSL accepts, signed by their own key, with the names asked for', () => {
    for (let i = 0; i < 400; i++) {
      const s = generateSelfSigned(['localhost', '127.0.0.1', '::1']);
      expect(() => createSecureContext({ cert: s.cert, key: s.key })).not.toThrow();
      const x = new X509Certificate(s.cert);
      expect(x.verify(x.publicKey)).toBe(true);
      if (i === 0) {
        expect(x.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
        expect(x.subject).toBe('CN=localhost');
        expect(new Date(x.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
      }
    }
  });
});
