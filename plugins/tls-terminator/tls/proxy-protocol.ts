// PROXY protocol v1 (text) and v2 (binary) header in front of the TLS bytes, sent by a
// trusted load balancer to tell us the real client address.
import { type Socket, isIP } from 'node:net';
import { SidekickError } from '../../../src/plugin-api.ts';

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V1_MAX = 107;

export interface ProxiedAddress {
  address: string;
  port: number;
}

export class ProxyProtocolError extends SidekickError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SIDEKICK_TLS_PROXY_PROTOCOL', message, options);
  }
}

/** Resolves with the client address (undefined for LOCAL/UNKNOWN); the rest of the bytes are unshifted. */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxiedAddress | undefined> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (err: Error | undefined, used = 0, addr?: ProxiedAddress) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.pause();
      if (err) return reject(err);
      if (used < buf.length) socket.unshift(buf.subarray(used));
      resolve(addr);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      try {
        const r = parse(buf);
        if (r) finish(undefined, r.used, r.addr);
      } catch (e) {
        finish(e as Error);
      }
    };
    const onClose = () => finish(new ProxyProtocolError('connection closed inside the PROXY header'));
    const timer = setTimeout(() => finish(new ProxyProtocolError('no PROXY header within the handshake timeout')), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** undefined: need more bytes. Throws on a malformed header. */
export function parse(buf: Buffer): { used: number; addr?: ProxiedAddress } | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x0d) {
    if (buf.length < 16) return V2_SIG.subarray(0, buf.length).equals(buf.subarray(0, V2_SIG.length)) ? undefined : fail('bad v2 signature');
    if (!buf.subarray(0, 12).equals(V2_SIG)) fail('bad v2 signature');
    const verCmd = buf[12]!;
    if (verCmd >> 4 !== 2) fail('unsupported v2 version');
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return undefined;
    const used = 16 + len;
    if ((verCmd & 0x0f) === 0) return { used }; // LOCAL: health check from the balancer itself
    const fam = buf[13]!;
    if (fam === 0x11 && len >= 12) return { used, addr: { address: [...buf.subarray(16, 20)].join('.'), port: buf.readUInt16BE(24) } };
    if (fam === 0x21 && len >= 36) {
      const words: string[] = [];
      for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(16 + i * 2).toString(16));
      return { used, addr: { address: words.join(':'), port: buf.readUInt16BE(48) } };
    }
    return { used }; // UNSPEC or unix: keep the balancer's address
  }
  if (buf[0] === 0x50) {
    const eol = buf.indexOf('\r\n');
    if (eol < 0) return buf.length > V1_MAX ? fail('v1 header too long') : undefined;
    const parts = buf.toString('latin1', 0, eol).split(' ');
    if (parts[0] !== 'PROXY') fail('bad v1 header');
    if (parts[1] === 'UNKNOWN') return { used: eol + 2 };
    if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) fail('bad v1 header');
    const port = Number(parts[4]);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail('bad v1 source port');
    // The address ends up in X-Forwarded-For: only a real IP of the announced family gets through.
    if (isIP(parts[2]!) !== (parts[1] === 'TCP4' ? 4 : 6)) fail('bad v1 source address');
    return { used: eol + 2, addr: { address: parts[2]!, port } };
  }
  return fail('missing PROXY header from a configured load balancer');
}

function fail(msg: string): never {
  throw new ProxyProtocolError(`PROXY protocol: ${msg}`);
}

/**
 * The header tcp mode sends the app (`sendProxyProtocol`), as nginx's stream `proxy_protocol on`
 * and HAProxy's `send-proxy` do. Addresses of different families (an IPv4 client on an IPv6
 * listener that is not dual-stack mapped) go out as UNKNOWN / UNSPEC: the app then keeps the
 * TCP peer, as the specification says.
 */
export function proxyHeader(version: 'v1' | 'v2', src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const s = unmapped(src);
  const d = unmapped(dst);
  const family = isIP(s) === isIP(d) ? isIP(s) : 0;
  if (version === 'v1') {
    return Buffer.from(family === 0 ? 'PROXY UNKNOWN\r\n' : `PROXY TCP${family} ${s} ${d} ${srcPort} ${dstPort}\r\n`, 'latin1');
  }
  const addrLen = family === 4 ? 12 : family === 6 ? 36 : 0;
  const out = Buffer.alloc(16 + addrLen);
  V2_SIG.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = family === 4 ? 0x11 : family === 6 ? 0x21 : 0x00;
  out.writeUInt16BE(addrLen, 14);
  if (family === 0) return out;
  const size = family === 4 ? 4 : 16;
  ipBytes(s, family).copy(out, 16);
  ipBytes(d, family).copy(out, 16 + size);
  out.writeUInt16BE(srcPort, 16 + 2 * size);
  out.writeUInt16BE(dstPort, 18 + 2 * size);
  return out;
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack listener) as the IPv4 address it is. */
function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

function ipBytes(addr: string, family: number): Buffer {
  if (family === 4) return Buffer.from(addr.split('.').map(Number));
  const out = Buffer.alloc(16);
  let text = addr;
  const v4 = text.lastIndexOf('.') > 0 ? text.slice(text.lastIndexOf(':') + 1) : '';
  if (v4) text = `${text.slice(0, text.length - v4.length)}0:0`; // embedded IPv4: its bytes go in last
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const words = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  if (v4) Buffer.from(v4.split('.').map(Number)).copy(out, 12);
  return out;
}
