// Soak of config-sync in the real agent process: a writer changing an S3 bucket (s3rver through
// the real SDK) version after version, a reader resolving `..data` once and reading every file
// of what it points at, and the agent SIGKILLed at seeded random moments (listing, staging,
// swapping, saving) and restarted. Every version the reader sees must be complete (each file
// whole) and unmixed: a state the bucket really had. S3 has no multi-object write, so a
// listing taken among the PUTs of version n legitimately holds the first k keys of n and the
// rest of n-1; anything else (n with n-2, a later key newer than an earlier one) is a mix.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, Rng, kill, peakRss, sleep, startAgent, until } from './soak-kit.ts';

const BUCKET = 'soak-configs';
const KEYS = ['a.conf', 'b.conf', 'sub/c.txt', 'sub/deep/d.txt'] as const;
const S3RVER = 's3rver';

export interface ConfigSoakOptions {
  seed: number;
  cycles: number;
  runMs: [number, number];
  downMs: [number, number];
  settleTimeoutMs: number;
  log?: (line: string) => void;
}

export interface ConfigSoakResult {
  seed: number;
  versionsWritten: number;
  reads: number;
  /** Reads that found a torn file or a mix of versions: must be 0. */
  badReads: number;
  firstBad?: string;
  /** Version directories in the target after each restart settled (current, previous: at most 2). */
  maxVersionDirs: number;
  /** The final bucket state was published and nothing else: must be true. */
  converged: boolean;
  peakRssBytes: number;
  cycles: Array<{ cycle: number; readyMs: number; publishedLatestMs?: number }>;
  durationMs: number;
}

function body(version: number, key: string, rng: Rng): string {
  const pad = rng.int(0, 20_000);
  return `v=${version} key=${key} len=${pad}\n${'x'.repeat(pad)}\nend\n`;
}

/** The version of a whole file, or an error for a torn one. */
function versionOf(key: string, text: string): number {
  const m = /^v=(\d+) key=(\S+) len=(\d+)\n/.exec(text);
  if (!m || m[2] !== key) throw new Error(`${key}: bad header ${JSON.stringify(text.slice(0, 40))}`);
  if (text.length !== m[0].length + Number(m[3]) + '\nend\n'.length || !text.endsWith('\nend\n')) throw new Error(`${key}: torn (${text.length} bytes)`);
  return Number(m[1]);
}

/** A state the bucket had: the first k keys at version n, the rest at n-1. */
export function isBucketState(versions: readonly number[]): boolean {
  const n = versions[0]!;
  let k = 0;
  while (k < versions.length && versions[k] === n) k++;
  return versions.slice(k).every((v) => v === n - 1);
}

export async function runConfigSyncSoak(o: ConfigSoakOptions): Promise<ConfigSoakResult> {
  const log = o.log ?? (() => {});
  const rng = new Rng(o.seed);
  const writerRng = new Rng(o.seed ^ 0x5eed0003);
  const began = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'soak-config-'));
  const S3rver = (await import(S3RVER)).default;
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(dir, 's3') });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  let version = 0;
  const putVersion = async () => {
    version++;
    for (const key of KEYS) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body(version, key, writerRng) }));
  };
  await putVersion();

  const target = join(dir, 'shared/config');
  await mkdir(join(dir, 'shared'), { recursive: true });
  const config = join(dir, 'sidekick.yaml');
  await writeFile(
    config,
    `admin: { listen: 127.0.0.1:0 }
dataDir: ${dir}/data
plugins:
  app-config:
    type: config-sync
    source:
      s3: { bucket: ${BUCKET}, endpoint: "${endpoint}", forcePathStyle: true, region: us-east-1 }
    target: ${target}
    interval: 100ms
`,
  );
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

  let reads = 0;
  let badReads = 0;
  let firstBad: string | undefined;
  /** One read the way a careful app does: resolve `..data` once, read every file under it. */
  const readOnce = async (): Promise<number[] | undefined> => {
    const dataDir = await readlink(join(target, '..data')).catch(() => undefined);
    if (!dataDir) return undefined;
    try {
      const versions: number[] = [];
      for (const key of KEYS) versions.push(versionOf(key, await readFile(join(target, dataDir, key), 'utf8')));
      reads++;
      if (!isBucketState(versions)) throw new Error(`mixed versions ${versions.join(',')} in ${dataDir}`);
      return versions;
    } catch (err) {
      // Pruned while being read (two publishes during one read): not a fault of what was published.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      badReads++;
      firstBad ??= (err as Error).message;
      return undefined;
    }
  };
  let running = true;
  const reader = (async () => {
    while (running) {
      await readOnce();
      await sleep(5);
    }
  })();
  const writer = (async () => {
    while (running) {
      await sleep(writerRng.int(200, 1500));
      if (running) await putVersion();
    }
  })();

  let agent: Agent | undefined;
  let peak = 0;
  let maxVersionDirs = 0;
  const cycles: ConfigSoakResult['cycles'] = [];
  const versionDirs = async () => (await readdir(target).catch(() => [] as string[])).filter((n) => n.startsWith('..') && n !== '..data').length;
  let converged = false;
  try {
    agent = startAgent(config, join(dir, 'agent.log'));
    await agent.ready;
    for (let c = 1; c <= o.cycles; c++) {
      await sleep(rng.int(o.runMs[0], o.runMs[1]));
      peak = Math.max(peak, peakRss(agent.pid));
      await kill(agent);
      const atKill = version;
      await sleep(rng.int(o.downMs[0], o.downMs[1]));
      agent = startAgent(config, join(dir, 'agent.log'));
      const readyMs = Math.round(await agent.ready);
      const figures: { cycle: number; readyMs: number; publishedLatestMs?: number } = { cycle: c, readyMs };
      cycles.push(figures);
      const started = agent.startedAt;
      const thisAgent = agent;
      void (async () => {
        while (agent === thisAgent && thisAgent.child.exitCode === null) {
          const v = await readOnce();
          if (v && v[KEYS.length - 1]! >= atKill) {
            figures.publishedLatestMs = Math.round(performance.now() - started);
            maxVersionDirs = Math.max(maxVersionDirs, await versionDirs());
            return;
          }
          await sleep(20);
        }
      })();
      log(`cycle ${c}/${o.cycles}: killed at bucket version ${atKill}, ready in ${readyMs} ms`);
    }
    running = false;
    await writer;
    // The end: the last bucket state, complete, and only the current and previous versions kept.
    await until('the last version published', async () => {
      const v = await readOnce();
      return v !== undefined && v.every((x) => x === version);
    }, o.settleTimeoutMs, 100).then(() => (converged = true), (err: Error) => log(err.message));
    maxVersionDirs = Math.max(maxVersionDirs, await versionDirs());
    peak = Math.max(peak, peakRss(agent.pid));
    await kill(agent, 'SIGTERM');
  } finally {
    running = false;
    await reader.catch(() => undefined);
    await writer.catch(() => undefined);
    if (agent) await kill(agent);
    s3.destroy();
    await server.close();
    if (!process.env.SOAK_KEEP) await rm(dir, { recursive: true, force: true });
    else log(`kept ${dir} (SOAK_KEEP)`);
  }
  return {
    seed: o.seed,
    versionsWritten: version,
    reads,
    badReads,
    ...(firstBad ? { firstBad } : {}),
    maxVersionDirs,
    converged,
    peakRssBytes: peak,
    cycles,
    durationMs: Date.now() - began,
  };
}
