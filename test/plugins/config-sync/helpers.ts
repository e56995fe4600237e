// Shared by the config-sync tests: a real S3 API server (s3rver) reached through the real
// SDK, a runtime driven with a real PluginContext, and small bounded wait helpers.
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../helpers/agent-process.ts';
import { createTestContext, type TestContext } from '../../helpers/plugin-context.ts';
import descriptor from '../../../plugins/config-sync/index.ts';
import { configSchema } from '../../../plugins/config-sync/config-schema.ts';
import { parseConfig } from '../../helpers/plugin-config.ts';
import type { PluginInstance } from '../../../src/plugin-api.ts';

export const BUCKET = 'configs';
const S3RVER: string = 's3rver';

export interface S3Server {
  endpoint: string;
  client: S3Client;
  storeDir: string;
  put(key: string, body: string | Buffer): Promise<void>;
  del(key: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real S3 API server on an ephemeral port. `inChildProcess`: run it in a child process with
 * --openssl-legacy-provider, where its DES-encrypted continuation tokens work (pagination).
 */
export async function startS3(opts: { inChildProcess?: boolean } = {}): Promise<S3Server> {
  const store = await tempDir('cs-s3rver-');
  let port: number;
  let stopServer: () => Promise<void>;
  if (opts.inChildProcess) {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--openssl-legacy-provider', join(import.meta.dirname, 'fixtures/s3rver-process.js'), store.path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
      child.once('exit', (code) => reject(new Error(`s3rver process exited (${code}) before listening`)));
    });
    stopServer = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    };
  } else {
    // s3rver ships no types; a computed specifier keeps tsc from asking for them.
    const S3rver = (await import(S3RVER)).default;
    const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: store.path });
    port = ((await server.run()) as unknown as { port: number }).port;
    stopServer = () => server.close();
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  return {
    endpoint,
    client,
    storeDir: store.path,
    put: async (key, body) => void (await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))),
    del: async (key) => void (await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }))),
    async close() {
      client.destroy();
      await stopServer();
      await store.cleanup();
    },
  };
}

/** Environment for the SDK default credential chain, pointed at s3rver's fixed keys. */
export function useS3rverCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
}

export interface Running {
  ctx: TestContext;
  instance: PluginInstance;
  target: string;
  stop(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  details(): Record<string, any>;
}

/** Parses `raw` with the plugin's own schema and starts the runtime with a real context. */
export async function runSync(raw: Record<string, unknown>, opts: { dataDir?: string; beforeStart?: (dataDir: string) => Promise<void> | void } = {}): Promise<Running> {
  const config = parseConfig(configSchema, raw);
  const ctx = await createTestContext('sync', 'config-sync');
  const dataDir = opts.dataDir ?? ctx.dataDir;
  const context = { ...ctx, dataDir };
  const instance = await descriptor.create(config, context);
  await opts.beforeStart?.(dataDir);
  await instance.start();
  let stopped: Promise<void> | undefined;
  return {
    ctx,
    instance,
    target: String(raw.target),
    stop() {
      stopped ??= (async () => {
        ctx.abort();
        const ac = new AbortController();
        await instance.stop({ deadline: Date.now() + 5000, signal: ac.signal });
        await ctx.cleanup();
      })();
      return stopped;
    },
    async metric(name, labels = {}) {
      const m = ctx.metricsRegistry.registry.getSingleMetric(name);
      if (!m) return 0;
      const { values } = await m.get();
      let sum = 0;
      for (const v of values) {
        if (Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)) sum += v.value;
      }
      return sum;
    },
    details: () => instance.health!().details as Record<string, any>,
  };
}

/** Polls `check` until it returns a truthy value; fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000, stepMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The visible tree of a published target: relative path -> content, read through the top-level links. */
export async function readTarget(target: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('..')) continue;
      const path = rel ? `${rel}/${e.name}` : e.name;
      const full = join(dir, e.name);
      const { stat } = await import('node:fs/promises');
      if ((await stat(full)).isDirectory()) await walk(full, path);
      else out[path] = await readFile(full, 'utf8');
    }
  };
  await walk(target, '');
  return out;
}

export async function dataLink(target: string): Promise<string | undefined> {
  return readlink(join(target, '..data')).catch(() => undefined);
}

export async function versionDirs(target: string): Promise<string[]> {
  return (await readdir(target)).filter((n) => n.startsWith('..') && n !== '..data').sort();
}

let cmSeq = 0;
/** Writes `files` into `dir` the way the kubelet updates a ConfigMap volume: a new hidden version, then a `..data` swap. */
export async function writeConfigMap(dir: string, files: Record<string, string>): Promise<void> {
  const { mkdir, writeFile, symlink, rename, rm, readdir: ls, readlink: rl } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await mkdir(dir, { recursive: true });
  const version = `..v${++cmSeq}_${process.pid}`;
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(dir, version, path)), { recursive: true });
    await writeFile(join(dir, version, path), body);
  }
  const old = await rl(join(dir, '..data')).catch(() => undefined);
  for (const top of new Set(Object.keys(files).map((p) => p.split('/')[0]!))) {
    await symlink(`..data/${top}`, join(dir, top)).catch((e) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
  }
  await symlink(version, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of await ls(dir)) {
    if (!name.startsWith('..') && !Object.keys(files).some((p) => p.split('/')[0] === name)) await rm(join(dir, name));
  }
  if (old) await rm(join(dir, old), { recursive: true, force: true });
}

/** Starts the signal-recording stand-in app; `signals()` reads what it got so far. */
export async function startSignalRecorder(dir: string) {
  const { spawn } = await import('node:child_process');
  const pidFile = join(dir, `app-${Math.random().toString(36).slice(2)}.pid`);
  const logFile = `${pidFile}.signals`;
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/signal-recorder.js'), pidFile, logFile], { stdio: 'ignore' });
  // The recorder creates the file, then writes it: wait for the whole pid, not only the file.
  await waitFor('recorder pid file', () => readFile(pidFile, 'utf8').then((t) => /^\d+\n$/.test(t), () => false));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    pid: child.pid!,
    pidFile,
    signals: () => readFile(logFile, 'utf8').then((t) => t.split('\n').filter(Boolean), () => [] as string[]),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Starts a stand-in app that reads `target`'s `version` file on every SIGHUP; `loaded()` lists
 * the versions it read, in order.
 */
export async function startConfigApp(dir: string, target: string) {
  const { spawn } = await import('node:child_process');
  const pidFile = join(dir, `app-${Math.random().toString(36).slice(2)}.pid`);
  const logFile = `${pidFile}.loaded`;
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/config-app.js'), pidFile, logFile, target], { stdio: 'ignore' });
  await waitFor('app pid file', () => readFile(pidFile, 'utf8').then((t) => /^\d+\n$/.test(t), () => false));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    pidFile,
    loaded: () => readFile(logFile, 'utf8').then((t) => t.split('\n').filter(Boolean), () => [] as string[]),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Kills the agent with SIGKILL, as the OOM killer or a node failure would, and waits for the exit. */
export async function killAgent(agent: { child: import('node:child_process').ChildProcess; exited: Promise<unknown> }): Promise<void> {
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
  await agent.exited;
}

/** The files of the version `..data` points at (resolved once), read directly: path -> content. */
export async function liveVersion(target: string): Promise<Record<string, string> | undefined> {
  const { realpath, stat } = await import('node:fs/promises');
  let root: string;
  try {
    root = await realpath(join(target, '..data'));
  } catch {
    return undefined;
  }
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = rel ? `${rel}/${name}` : name;
      if ((await stat(join(dir, name))).isDirectory()) await walk(join(dir, name), path);
      else out[path] = await readFile(join(dir, name), 'utf8');
    }
  };
  await walk(root, '');
  return out;
}

/** Metrics text of a running agent: the value of one series (0 when absent). */
export async function agentMetric(adminUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** The config-sync instance's `/status` details of a running agent. */
export async function agentDetails(agent: { status(): Promise<any> }): Promise<any> {
  const stack = [await agent.status()];
  while (stack.length) {
    const v = stack.pop();
    if (v && typeof v === 'object') {
      if (v.type === 'config-sync' && v.details) return v.details;
      stack.push(...Object.values(v));
    }
  }
  return undefined;
}
