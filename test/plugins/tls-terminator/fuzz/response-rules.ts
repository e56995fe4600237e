// What the fuzz test expects of ResponseParser beside llhttp: the headers it forwards (llhttp's
// minus the hop-by-hop ones), and the explicit list of responses it may refuse that llhttp takes.
import type { ResponseOutcome } from './response-diff.ts';

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
/** Framing is the parser's decision: a Connection nomination never removes it (RFC 9110 7.6.1). */
const NEVER_NOMINATED = new Set(['content-length', 'transfer-encoding']);
/** Connection options rather than field names: ResponseParser does not look for fields named so. */
const OPTIONS = new Set(['close', 'keep-alive']);

/** llhttp's raw headers with what RFC 9110 7.6.1 has a proxy remove. */
export function forwarded(raw: string[]): string[] {
  const drop = new Set(HOP);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1]!.split(',')) {
      const name = t.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
      if (name && !NEVER_NOMINATED.has(name) && !OPTIONS.has(name)) drop.add(name);
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/**
 * Where ResponseParser is stricter than llhttp on purpose: its error message (a prefix) and why.
 * A refusal is a 502 to the client, as nginx answers a malformed or unsupported upstream response.
 */
export const STRICTER: ReadonlyArray<readonly [string, string]> = [
  ['bare LF in the response head', 'RFC 9112 2.2: lines end in CRLF; llhttp skips empty lines before a status line, we refuse any bare LF, so that a head of bare LFs is refused as it arrives instead of waiting for timeouts.upstream'],
  ['bad status line: not HTTP/1.0 or HTTP/1.1', 'RFC 9112 2.3: the app was sent HTTP/1.1; llhttp also takes 0.9, 1.2, 2.0... on an HTTP/1 connection'],
  ['bad status line: status code below 100', 'RFC 9110 15: status codes are 100-599 (llhttp takes 000-099)'],
  ['bad reason phrase', 'RFC 9112 4: reason-phrase is HTAB, SP, VCHAR, obs-text; llhttp takes other controls (NUL, 0x01...), which we would write to the client'],
  ['unexpected 101', 'RFC 9110 15.2.2: 101 only answers a request with Upgrade; pooled requests never carry one (upgrades go through upgrade-proxy.ts)'],
  ['unsupported Transfer-Encoding', 'RFC 9112 6.1/6.3: llhttp reads a body whose final coding is not chunked until close, but we strip Transfer-Encoding (hop-by-hop) and cannot decode gzip & co, so forwarding would alter the body; nginx answers 502 "unknown Transfer-Encoding" too'],
  ['framing field in trailers', 'RFC 9110 6.5.1: Content-Length and Transfer-Encoding must not be sent as trailers'],
  ['bad chunk extension', 'RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS token / quoted-string ] ); llhttp also takes an empty value (`;a=`). Extensions are dropped, never forwarded'],
  ['chunk size too large', 'a chunk over 4 GiB: llhttp counts to 2^64, we refuse (RFC 9112 7.1 lets a recipient limit chunk sizes)'],
  ['Content-Length too large', 'over 2^53 bytes: llhttp counts to 2^64, we refuse (RFC 9112 6.3 item 5 allows refusing an unparsable length)'],
];

/** Where ResponseParser will not reuse a connection llhttp would: keyed by the outcome, with why. */
const REUSE_STRICTER: ReadonlyArray<readonly [(o: ResponseOutcome) => boolean, string]> = [
  [(o) => o.trailing === true, 'bytes after the response (llhttp skips stray CRLFs between responses): RFC 9112 9.3, a connection out of step is closed, never reused'],
];

/** undefined when ours matches llhttp (or is stricter as STRICTER allows); else what differs. */
export function compareResponses(o: ResponseOutcome, l: ResponseOutcome): string | undefined {
  if (o.error !== undefined) {
    if (l.error !== undefined) return undefined;
    if (STRICTER.some(([prefix]) => o.error!.startsWith(prefix))) return undefined;
    return `ResponseParser refused (${o.error}), llhttp accepted`;
  }
  if (l.error !== undefined) return `ResponseParser accepted, llhttp refused (${l.error})`;
  if (o.status !== l.status) return `status ${o.status} (ours) vs ${l.status} (llhttp)`;
  const want = forwarded(l.headers);
  if (JSON.stringify(o.headers) !== JSON.stringify(want)) return `headers ${JSON.stringify(o.headers)} (ours) vs ${JSON.stringify(want)} (llhttp, hop-by-hop removed)`;
  if (o.body !== l.body) return `body ${JSON.stringify(o.body)} (ours) vs ${JSON.stringify(l.body)} (llhttp)`;
  if (o.reusable && !l.reusable) return 'ours reuses the connection, llhttp would not';
  if (!o.reusable && l.reusable && !REUSE_STRICTER.some(([when]) => when(o))) return 'llhttp reuses the connection, ours would not';
  return undefined;
}
