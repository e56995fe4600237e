// The S3 client's own SHA-256 (sources/sha256.ts) against Node's crypto, and SigV4 signatures
// made with it against the SDK's default: s3rver does not check signatures, so the other S3
// tests would not notice a wrong one.
import { createHash, createHmac } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { PollingS3Client } from '../../../plugins/config-sync/sources/s3-client.ts';
import { Sha256 } from '../../../plugins/config-sync/sources/sha256.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const mac = (key: string | Uint8Array, msg: string | Uint8Array) => createHmac('sha256', key).update(msg).digest('hex');

async function ours(secret: string | Uint8Array | undefined, ...chunks: Array<string | Uint8Array>): Promise<string> {
  const h = new Sha256(secret);
  for (const c of chunks) h.update(c);
  return hex(await h.digest());
}

describe('config-sync S3 signing', () => {
  it('hashes and MACs as node:crypto does, in one update or several, with the remembered MAC never stale', async () => {
    expect(await ours(undefined)).toBe(createHash('sha256').digest('hex'));
    expect(await ours(undefined, 'abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(await ours(undefined, 'a', Buffer.from('b'), 'c')).toBe(createHash('sha256').update('abc').digest('hex'));
    const twice = new Sha256();
    twice.update('x');
    twice.update('y');
    expect(hex(await twice.digest())).toBe(hex(await twice.digest()));
    const keyBytes = new Uint8Array(32).fill(7);
    expect(await ours(keyBytes, 'm')).toBe(mac(keyBytes, 'm'));
    expect(await ours(keyBytes, 'm')).toBe(mac(keyBytes, 'm')); // cached KeyObject
    // String key + short byte message: the remembered pair, and every change of key or message.
    const id1 = Buffer.from('AKIDEXAMPLE1');
    const id2 = Buffer.from('AKIDEXAMPLE2');
    for (const [key, msg] of [['secretA', id1], ['secretA', id1], ['secretA', id2], ['secretB', id2], ['secretA', id1]] as const) {
      expect(await ours(key, msg)).toBe(mac(key, msg));
    }
    expect(await ours('secretA', 'a string message')).toBe(mac('secretA', 'a string message'));
    const reset = new Sha256('k');
    reset.update('one');
    await reset.digest();
    reset.reset();
    reset.update('two');
    expect(hex(await reset.digest())).toBe(mac('k', 'two'));
  });

  it('signs requests exactly as the SDK does by default, across credentials and days', async () => {
    const region = 'eu-west-1';
    const clients = (accessKeyId: string, secretAccessKey: string) => [
      new S3Client({ region, credentials: { accessKeyId, secretAccessKey } }),
      new PollingS3Client({ bucket: 'configs', prefix: '', region, forcePathStyle: false }),
    ];
    const request = (path: string) => ({
      method: 'GET',
      protocol: 'https:',
      hostname: 'configs.s3.eu-west-1.amazonaws.com',
      path,
      query: { 'list-type': '2', prefix: 'app/' },
      headers: { host: 'configs.s3.eu-west-1.amazonaws.com', 'x-amz-content-sha256': createHash('sha256').digest('hex') },
    });
    const cases = [
      { id: 'AKIDONE', secret: 'secret-one', date: '2026-11-24T10:00:00Z', path: '/' },
      { id: 'AKIDONE', secret: 'secret-one', date: '2026-11-24T10:00:01Z', path: '/' },
      { id: 'AKIDTWO', secret: 'secret-two', date: '2026-11-24T10:00:02Z', path: '/a%20b' },
      { id: 'AKIDONE', secret: 'secret-one', date: '2026-11-25T00:00:00Z', path: '/' },
    ];
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    try {
      for (const c of cases) {
        // PollingS3Client takes credentials from the default chain, as in production.
        process.env.AWS_ACCESS_KEY_ID = c.id;
        process.env.AWS_SECRET_ACCESS_KEY = c.secret;
        const [plain, polling] = clients(c.id, c.secret);
        const auth = async (client: S3Client) => {
          const signer = await (client.config.signer as (s: unknown) => Promise<{ sign(r: unknown, o: unknown): Promise<{ headers: Record<string, string> }> }>)({ name: 'sigv4' });
          return (await signer.sign(request(c.path), { signingDate: new Date(c.date), signingRegion: region, signingService: 's3' })).headers.authorization;
        };
        const expected = await auth(plain!);
        expect(expected).toContain(`Credential=${c.id}/`);
        expect(await auth(polling!)).toBe(expected);
        expect(await auth(polling!)).toBe(expected); // again: the remembered MAC
        plain!.destroy();
        polling!.destroy();
      }
    } finally {
      for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
