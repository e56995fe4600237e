// The rate-limit rules of one instance: which requests a rule applies to, the key it counts
// them by, and its buckets. A request over any matching rule is refused; rules are checked in
// config order and a refusal stops there (earlier rules have taken their token, as nginx's
// several limit_req do).
import { createHash } from 'node:crypto';
import type { ConnectionInfo } from '../connection-info.ts';
import { type Clock, TokenBuckets } from './token-buckets.ts';

export interface RateRule {
  name?: string | undefined;
  key: string;
  rate: number;
  burst?: number | undefined;
  methods: string[];
  pathPrefix: string;
  maxKeys: number;
}

/** The request as the rules see it: both HTTP/1.1 paths and HTTP/2 give these without copies. */
export interface RequestView {
  method: string;
  path: string;
  /** Flat [name, value, ...]; h2 pseudo-headers start with ':' and are skipped. */
  raw: string[];
  /** raw's names lower-cased, when the parser has them. */
  lower: string[] | undefined;
  info: ConnectionInfo;
}

const Key = { Address: 0, Forwarded: 1, Ja4: 2, Global: 3, Header: 4 } as const;
/** Longer keys are hashed: an IPv6 address with a zone or a JA4 (36 characters) stays as it is. */
const MAX_KEY = 64;

/** Finds buckets a previous instance kept for an unchanged rule (PluginContext.keep). */
export type Keep = <T>(key: string, make: () => T) => T;

export class RateRuleState {
  readonly name: string;
  readonly buckets: TokenBuckets;
  private readonly kind: number;
  private readonly header: string;
  private readonly methods: Set<string> | undefined;
  private readonly prefix: string;
  private readonly trusted: (address: string) => boolean;

  constructor(rule: RateRule, index: number, clock: Clock, keep: Keep, trusted: (address: string) => boolean) {
    this.name = rule.name ?? `rule-${index}`;
    const k = rule.key;
    this.kind = k === 'address' ? Key.Address : k === 'forwarded' ? Key.Forwarded : k === 'ja4' ? Key.Ja4 : k === 'global' ? Key.Global : Key.Header;
    this.header = this.kind === Key.Header ? k.slice(7).toLowerCase() : '';
    this.methods = rule.methods.length ? new Set(rule.methods) : undefined;
    this.prefix = rule.pathPrefix;
    this.trusted = trusted;
    const burst = rule.burst ?? Math.max(1, Math.ceil(rule.rate));
    // The same rule after a reload keeps its buckets: a reload must not hand every client a fresh burst.
    const identity = JSON.stringify({ key: k, rate: rule.rate, burst, maxKeys: rule.maxKeys, methods: rule.methods, pathPrefix: rule.pathPrefix, name: this.name });
    this.buckets = keep(`rate-limit:${identity}`, () => new TokenBuckets({ rate: rule.rate, burst, maxKeys: rule.maxKeys, clock }));
  }

  applies(r: RequestView): boolean {
    if (this.methods && !this.methods.has(r.method)) return false;
    return this.prefix === '/' || r.path.startsWith(this.prefix);
  }

  /**
   * The bucket key, or '' when the rule does not count this request (header:<name> absent). A
   * key longer than MAX_KEY (a header value or forwarded hop the client chose, up to the head's
   * size) is kept as its SHA-256, so maxKeys bounds the memory and not only the count.
   */
  keyOf(r: RequestView): string {
    const key = this.rawKey(r);
    return key.length > MAX_KEY ? createHash('sha256').update(key, 'latin1').digest('base64') : key;
  }

  private rawKey(r: RequestView): string {
    switch (this.kind) {
      case Key.Address:
        return r.info.clientAddress;
      case Key.Ja4:
        return r.info.ja4;
      case Key.Global:
        return '*';
      case Key.Forwarded:
        return r.info.trusted ? this.forwardedClient(r) : r.info.clientAddress;
      default:
        return headerValue(r, this.header);
    }
  }

  /** From a trusted proxy: the last X-Forwarded-For address that is not one of trustedProxies. */
  private forwardedClient(r: RequestView): string {
    let chain = '';
    for (let i = 0; i < r.raw.length; i += 2) {
      const name = r.lower ? r.lower[i >> 1]! : r.raw[i]!.toLowerCase();
      if (name === 'x-forwarded-for') chain = chain ? `${chain},${r.raw[i + 1]}` : r.raw[i + 1]!;
    }
    if (!chain) return r.info.clientAddress;
    const hops = chain.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      if (hop && !this.trusted(hop)) return hop;
    }
    return hops[0]!.trim() || r.info.clientAddress;
  }
}

function headerValue(r: RequestView, name: string): string {
  for (let i = 0; i < r.raw.length; i += 2) {
    const n = r.lower ? r.lower[i >> 1]! : r.raw[i]!;
    if (n.length === name.length && (r.lower ? n === name : n.toLowerCase() === name)) return r.raw[i + 1]!;
  }
  return '';
}
