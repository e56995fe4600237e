// The listing's repeat path (sources/s3-repeat.ts) and the kept signer (sources/s3-client.ts),
// against a real s3rver behind a proxy that records what goes over the wire. s3rver does not
// check signatures, so each recorded signature is checked against the SDK's default signer.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PollingS3Client } from '../../../plugins/config-sync/sources/s3-client.ts';
import { RepeatedListCommand } from '../../../plugins/config-sync/sources/s3-repeat.ts';
import { BUCKET, startS3, useS3rverCredentials, type S3Server } from './helpers.ts';

let s3: S3Server;
let proxy: Server;
let endpoint: string;
const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];

beforeAll(async () => {
  useS3rverCredentials();
  s3 = await startS3();
  for (const key of ['one/a.txt', 'one/b/c.txt', 'two/d.txt']) await s3.put(key, key);
  const upstream = new URL(s3.endpoint);
  proxy = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
  await s3?.close();
});

type Signer = { sign(r: unknown, o: unknown): Promise<{ headers: Record<string, string> }> };

/** The Authorization the SDK's default signer gives the recorded request, for the key id and date it carries. */
async function expectedAuthorization(sent: (typeof seen)[number]): Promise<string> {
  const auth = String(sent.headers.authorization);
  const [, accessKeyId, region] = /Credential=([^/]+)\/\d{8}\/([^/]+)\/s3\//.exec(auth)!;
  const sessionToken = sent.headers['x-amz-security-token'] as string | undefined;
  const signed = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
  const url = new URL(sent.url, 'http://x');
  const plain = new S3Client({ region, credentials: { accessKeyId: accessKeyId!, secretAccessKey: 'S3RVER', sessionToken } });
  try {
    const signer = await (plain.config.signer as (s: unknown) => Promise<Signer>)({ name: 'sigv4' });
    const date = String(sent.headers['x-amz-date']).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
    const req = {
      method: sent.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(signed.map((h) => [h, String(sent.headers[h])])),
    };
    return (await signer.sign(req, { signingDate: new Date(date), signingRegion: region, signingService: 's3' })).headers.authorization!;
  } finally {
    plain.destroy();
  }
}

describe('config-sync S3 repeated listing', () => {
  it('a repeat goes out as the full path sent it, signed afresh for the credentials of the moment; endpoint and serialization are worked out once', async () => {
    const client = new PollingS3Client({ bucket: BUCKET, prefix: 'one/', endpoint, forcePathStyle: true });
    // Credentials that expire within the SDK's refresh window: every request fetches new ones
    // (s3rver knows one key id, so the session token is what changes).
    let issued = 0;
    client.config.credentials = async () => ({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', sessionToken: `token${++issued}`, expiration: new Date(Date.now() + 60_000) });
    const resolveEndpoint = client.config.endpointProvider;
    let resolutions = 0;
    client.config.endpointProvider = (params, context) => (resolutions++, resolveEndpoint(params, context));
    seen.length = 0;
    const prefixes = ['one/', 'one/', 'one/', 'two/', 'one/', 'one/'];
    const keys: string[][] = [];
    try {
      for (const prefix of prefixes) {
        const out = await client.send(new RepeatedListCommand({ Bucket: BUCKET, Prefix: prefix }));
        keys.push((out.Contents ?? []).map((o) => o.Key!).sort());
      }
      expect(await client.config.signer({ name: 'sigv4' } as never)).toBe(await client.config.signer({ name: 'sigv4' } as never));
    } finally {
      client.destroy();
    }
    expect(keys).toEqual(prefixes.map((p) => (p === 'one/' ? ['one/a.txt', 'one/b/c.txt'] : ['two/d.txt'])));
    // Full passes: the first listing, the change of prefix, and the change back (one input is remembered).
    expect(resolutions).toBe(3);
    expect(seen).toHaveLength(prefixes.length);
    const first = { 'one/': seen[0]!, 'two/': seen[3]! };
    const volatile = new Set(['x-amz-date', 'authorization', 'x-amz-security-token']);
    const stable = (h: IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => !volatile.has(k)));
    let lastToken = 0;
    for (const [i, sent] of seen.entries()) {
      const full = first[prefixes[i] as keyof typeof first];
      expect(sent.method).toBe('GET');
      expect(sent.url).toBe(full.url);
      expect(sent.url).toContain(`prefix=${encodeURIComponent(prefixes[i]!)}`);
      expect(stable(sent.headers)).toEqual(stable(full.headers));
      expect(sent.headers.authorization).toBe(await expectedAuthorization(sent));
      expect(sent.headers.authorization).toContain('x-amz-security-token');
      const token = Number(/^token(\d+)$/.exec(String(sent.headers['x-amz-security-token']))![1]);
      expect(token).toBeGreaterThan(lastToken);
      lastToken = token;
    }
  });
});
