// The PROXY header tcp mode sends the app (sendProxyProtocol), checked byte for byte against the
// specification's layout (haproxy.org/download/2.9/doc/proxy-protocol.txt), and read back by the
// plugin's own reader.
import { describe, expect, it } from 'vitest';
import { parse, proxyHeader } from '../../../../plugins/tls-terminator/tls/proxy-protocol.ts';

const SIG = '0d0a0d0a000d0a515549540a';

describe('proxyHeader', () => {
  it('writes v1 lines for IPv4 and IPv6, and UNKNOWN for mixed families', () => {
    expect(proxyHeader('v1', '203.0.113.7', 51234, '10.0.0.1', 8443).toString()).toBe('PROXY TCP4 203.0.113.7 10.0.0.1 51234 8443\r\n');
    expect(proxyHeader('v1', '2001:db8::5', 40000, '::1', 443).toString()).toBe('PROXY TCP6 2001:db8::5 ::1 40000 443\r\n');
    // An IPv4 client on a dual-stack listener is announced as the IPv4 address it is.
    expect(proxyHeader('v1', '::ffff:203.0.113.7', 1, '::ffff:10.0.0.1', 2).toString()).toBe('PROXY TCP4 203.0.113.7 10.0.0.1 1 2\r\n');
    expect(proxyHeader('v1', '203.0.113.7', 1, '::1', 2).toString()).toBe('PROXY UNKNOWN\r\n');
  });

  it('writes v2 headers: PROXY command, family, length, addresses, ports', () => {
    expect(proxyHeader('v2', '198.51.100.9', 51200, '10.0.0.1', 8443).toString('hex')).toBe(`${SIG}2111000c` + 'c6336409' + '0a000001' + 'c800' + '20fb');
    // The destination in NAT64 notation: its last 32 bits written as an IPv4 address.
    expect(proxyHeader('v2', '2001:db8::5', 40000, '64:ff9b::192.0.2.1', 443).toString('hex')).toBe(
      `${SIG}21210024` + '20010db8000000000000000000000005' + '0064ff9b0000000000000000c0000201' + '9c40' + '01bb',
    );
    expect(proxyHeader('v2', '203.0.113.7', 1, '::1', 2).toString('hex')).toBe(`${SIG}21000000`);
  });

  it("is read back by the plugin's own PROXY reader", () => {
    for (const [src, dst] of [['198.51.100.9', '10.0.0.1'], ['2001:db8:0:1::5', 'fe80::1']]) {
      for (const version of ['v1', 'v2'] as const) {
        const h = proxyHeader(version, src!, 61000, dst!, 443);
        const read = parse(Buffer.concat([h, Buffer.from('after')]));
        expect(read?.used, `${version} ${src}`).toBe(h.length);
        expect(read?.addr?.port).toBe(61000);
      }
    }
  });
});
