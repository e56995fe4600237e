// kill -9 of the real agent at the worst moments: between the swap and the reload, in the
// middle of a state save, and at seeded random moments of a publish. After each restart the
// target serves one complete version, generations are not reused, no debris piles up, and the
// app ends up told about the version that is live.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgent, tempDir, type AgentProcess } from '../../helpers/agent-process.ts';
import { agentDetails, BUCKET, dataLink, killAgent, liveVersion, startConfigApp, startS3, versionDirs, waitFor, writeConfigMap } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
const agents: AgentProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  work = await tempDir('cs-crash-');
});
afterEach(async () => {
  for (const a of agents.splice(0)) await killAgent(a);
  for (const c of cleanups.splice(0).reverse()) await c();
  await work.cleanup();
});

const src = () => join(work.path, 'configmap');
const target = () => join(work.path, 'shared/config');
const stateDir = () => join(work.path, 'data/app-config');

const config = (pidFile: string, extra = '') => `
admin: { listen: 127.0.0.1:0 }
dataDir: ./data
plugins:
  app-config:
    type: config-sync
    source:
      dir: { path: ./configmap }
    target: ./shared/config
    interval: 50ms
    reload:
      signal: { name: SIGHUP, pidFile: ${pidFile} }
${extra}`;

async function start(yaml: string): Promise<AgentProcess> {
  const agent = await startAgent(work.path, yaml);
  agents.push(agent);
  return agent;
}

async function kill(agent: AgentProcess): Promise<void> {
  await killAgent(agent);
  agents.splice(agents.indexOf(agent), 1);
}

/** Every file of source version `n`. */
const versionFiles = (n: number): Record<string, string> => ({ version: String(n), 'a.conf': `a=${n}\n`, 'sub/b.json': `{"n":${n}}` });

async function appStarted() {
  const app = await startConfigApp(work.path, target());
  cleanups.push(() => app.stop());
  return app;
}

describe('config-sync killed with SIGKILL', () => {
  it('a reload owed when the agent was killed (debounce) is sent by the restarted agent', async () => {
    const app = await appStarted();
    await writeConfigMap(src(), versionFiles(1));
    const yaml = config(app.pidFile, '      debounce: 3s\n');
    const first = await start(yaml);
    await first.waitForLog((l) => l.msg === 'published new version');
    // ..data points at version 1; the reload waits for the debounce.
    expect((await liveVersion(target()))?.version).toBe('1');
    await kill(first);
    expect(await app.loaded()).toEqual([]);

    const second = await start(yaml);
    await waitFor('the app reloaded on version 1', async () => (await app.loaded()).length === 1, 20_000);
    expect(await app.loaded()).toEqual(['1']);
    expect(second.logs.some((l) => l.msg === 'published new version')).toBe(false);
    expect((await agentDetails(second)).version.generation).toBe(1);
    // Told once, settled: a second restart owes nothing.
    await waitFor('reload settled in the state', async () => JSON.parse(await readFile(join(stateDir(), 'state.json'), 'utf8')).reloadOwed === undefined);
    await kill(second);
    const third = await start(yaml);
    await third.waitForLog((l) => l.msg === 'adopted the published version from the last run');
    expect(third.logs.some((l) => /reloading it now/.test(l.msg ?? ''))).toBe(false);
  }, 60_000);

  it('a kill in the middle of the state save of a publish reuses no generation and keeps the previous version', async () => {
    const app = await appStarted();
    await writeConfigMap(src(), versionFiles(1));
    const yaml = config(app.pidFile);
    const first = await start(yaml);
    await waitFor('app on version 1', async () => (await app.loaded()).at(-1) === '1');
    await waitFor('state settled', async () => {
      const s = JSON.parse(await readFile(join(stateDir(), 'state.json'), 'utf8'));
      return s.current?.generation === 1 && s.reloadOwed === undefined && s.pending === undefined;
    });
    const v1 = await dataLink(target());
    // The next state save blocks on a FIFO until this test opens it: the agent is killed there.
    const fifo = join(stateDir(), 'state.json.tmp');
    execFileSync('mkfifo', [fifo]);
    const opened = open(fifo, 'r');
    await writeConfigMap(src(), versionFiles(2));
    const reader = await opened; // the agent has opened it for writing
    await kill(first);
    await reader.close();
    await rm(fifo, { force: true });
    // Whatever the moment, ..data serves one complete version.
    expect([versionFiles(1), versionFiles(2)]).toContainEqual(await liveVersion(target()));

    const second = await start(yaml);
    await waitFor('app on version 2', async () => (await app.loaded()).at(-1) === '2');
    const details = await agentDetails(second);
    expect(details.version.generation).toBe(2);
    expect(details.previousVersion?.generation).toBe(1);
    expect(await versionDirs(target())).toContain(v1);
    expect(await liveVersion(target())).toEqual(versionFiles(2));
  }, 60_000);

  it('a health check cut short by the kill is run again after the restart, and rolls back a bad version', async () => {
    const app = await appStarted();
    // Says which version the app runs (expectBody waits for the one just published, so a probe
    // answered before the app took the signal does not pass); version 2 is broken.
    let probedBad = false;
    const server = createServer(async (_req, res) => {
      const loaded = (await app.loaded()).at(-1);
      if (loaded === '2') probedBad = true;
      res.writeHead(loaded === '2' ? 503 : 200).end(`version=${loaded}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
    const yaml = config(app.pidFile, `      healthCheck: { url: "${url}", timeout: 2s, interval: 50ms, expectBody: "version={file:version}" }\n`);
    await writeConfigMap(src(), versionFiles(1));
    const first = await start(yaml);
    await waitFor('app on version 1', async () => (await app.loaded()).at(-1) === '1');
    await writeConfigMap(src(), versionFiles(2));
    await waitFor('a health probe of version 2', () => probedBad); // reloaded on 2, check under way
    await kill(first);
    expect((await liveVersion(target()))?.version).toBe('2');

    const second = await start(yaml);
    await second.waitForLog((l) => l.msg === 'rolled back to the previous version', 20_000);
    await waitFor('app back on version 1', async () => (await app.loaded()).at(-1) === '1');
    expect(await liveVersion(target())).toEqual(versionFiles(1));
    const details = await agentDetails(second);
    expect(details.version.generation).toBe(1);
    expect(details.lastError?.code).toBe('ERR_SIDEKICK_SYNC_UNHEALTHY');
  }, 60_000);

  it('a rollback whose swap happened but whose state save did not is finished by the restart', async () => {
    const app = await appStarted();
    const yaml = config(app.pidFile);
    await writeConfigMap(src(), versionFiles(1));
    const first = await start(yaml);
    await waitFor('app on version 1', async () => (await app.loaded()).at(-1) === '1');
    await writeConfigMap(src(), versionFiles(2));
    await waitFor('app on version 2', async () => (await app.loaded()).at(-1) === '2');
    await waitFor('state settled', async () => JSON.parse(await readFile(join(stateDir(), 'state.json'), 'utf8')).reloadOwed === undefined);
    await kill(first);
    // What the disk holds when a kill lands right after a rollback's swap: the journal written
    // before it (as rollback() writes it), and ..data back on version 1.
    const saved = JSON.parse(await readFile(join(stateDir(), 'state.json'), 'utf8'));
    const { current: bad, previous } = saved;
    expect([bad.generation, previous.generation]).toEqual([2, 1]);
    await writeFile(join(stateDir(), 'state.json'), JSON.stringify({ ...saved, rejectedId: bad.id, pending: { ...previous, rollback: true }, reloadOwed: 1 }));
    await symlink(previous.dir, join(target(), '..data_tmp'));
    await rename(join(target(), '..data_tmp'), join(target(), '..data'));

    const second = await start(yaml);
    const poll = await waitFor('first poll after the restart', async () => (await agentDetails(second)).lastPoll);
    expect(poll.result).toBe('unchanged (rejected version)'); // version 2 stays rolled back
    await waitFor('app reloaded on version 1', async () => (await app.loaded()).at(-1) === '1');
    expect(second.logs.some((l) => l.msg === 'adopted the version the last run published just before it ended')).toBe(true);
    const details = await agentDetails(second);
    expect(details.version.generation).toBe(1);
    expect(details.previousVersion).toBeNull();
    expect(second.logs.some((l) => l.msg === 'published new version')).toBe(false);
    expect(await liveVersion(target())).toEqual(versionFiles(1));
    expect(await versionDirs(target())).toEqual([previous.dir]);
  }, 60_000);

  it('survives seeded random kills while a dir source is listed, staged, validated, swapped and reloaded', async () => {
    await randomKills({
      sourceYaml: '      dir: { path: ./configmap }\n',
      files: versionFiles,
      write: (n) => writeConfigMap(src(), versionFiles(n)),
      // A validation that takes a while widens the window a kill can land in.
      validate: '#!/bin/sh\nsleep 0.1\n',
    });
  }, 120_000);

  it('survives seeded random kills while an S3 source (s3rver, real SDK) is listed, downloaded, validated, swapped and reloaded', async () => {
    const s3 = await startS3();
    cleanups.push(() => s3.close());
    // Bigger objects, so a kill can land inside the downloads.
    const files = (n: number): Record<string, string> => {
      const out: Record<string, string> = { version: String(n) };
      for (let i = 0; i < 8; i++) out[`f${i}.conf`] = `${n}\n${'x'.repeat(64 << 10)}`;
      return out;
    };
    await randomKills({
      sourceYaml: `      s3: { bucket: ${BUCKET}, prefix: app/, endpoint: "${s3.endpoint}", forcePathStyle: true, region: us-east-1 }\n`,
      env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
      files,
      write: async (n) => {
        for (const [path, body] of Object.entries(files(n))) await s3.put(`app/${path}`, body);
      },
      // S3 has no multi-object writes: a listing taken among the PUTs mixes two versions, and
      // the check refuses it (as an app's own check would), so only whole versions go live.
      validate: '#!/bin/sh\ncd "$1" || exit 1\nv=$(cat version)\nfor f in f*.conf; do [ "$(head -n 1 "$f")" = "$v" ] || exit 1; done\n',
    });
  }, 180_000);
});

/**
 * Publishes versions 1..8 of `files` under the real agent, killing it with SIGKILL at a seeded
 * random moment after each change (the seed is printed; CS_KILL_SEED replays it), and checks
 * after each kill and each restart: `..data` is one complete source version, no debris piles
 * up, generations are not reused, and the app ends on the live version.
 */
async function randomKills(opts: {
  sourceYaml: string;
  env?: NodeJS.ProcessEnv;
  files: (n: number) => Record<string, string>;
  write: (n: number) => Promise<void>;
  validate: string;
}): Promise<void> {
  const seed = Number(process.env.CS_KILL_SEED ?? Date.now() % 100_000);
  console.log(`config-sync random kill seed: ${seed} (replay with CS_KILL_SEED=${seed})`);
  let x = seed || 1;
  const random = () => (x = (x * 48271) % 2147483647) / 2147483647;
  const app = await appStarted();
  const validate = join(work.path, 'validate.sh');
  await writeFile(validate, opts.validate, { mode: 0o755 });
  // The debounce widens the window between the swap and the reload.
  const yaml = config(app.pidFile, `      debounce: 200ms\n    validate: { command: ["${validate}", "{dir}"] }\n    backoff: { initial: 20ms, max: 100ms }\n`).replace(
    '      dir: { path: ./configmap }\n',
    opts.sourceYaml,
  );
  const launch = async () => {
    const agent = await startAgent(work.path, yaml, { env: opts.env });
    agents.push(agent);
    return agent;
  };
  const sources = [opts.files(0)];
  await opts.write(0);
  let agent = await launch();
  await waitFor('app on version 0', async () => (await app.loaded()).at(-1) === '0', 20_000);
  const killedAt: string[] = [];
  for (let n = 1; n <= 8; n++) {
    sources.push(opts.files(n));
    const liveBefore = await dataLink(target());
    await opts.write(n);
    const delay = Math.floor(random() * 700);
    await new Promise((r) => setTimeout(r, delay)); // fault injection at a seeded moment, not a wait
    await kill(agent);
    const lastLog = agent.logs.filter((l) => l.msg).at(-1)?.msg;
    const what = `cycle ${n} (seed ${seed}, kill ${delay} ms after the change, last log "${lastLog}")`;
    const data = await dataLink(target());
    killedAt.push(`${delay} ms: ${data === liveBefore ? 'before the swap' : 'after the swap'}, last log "${lastLog}", app on ${(await app.loaded()).at(-1)}`);
    expect(sources, `${what}: ..data is one complete source version`).toContainEqual(await liveVersion(target()));
    // At most: current, previous, and the staging directory the kill interrupted; beside them the
    // swap's temporary link when the kill fell between making it and renaming it over `..data`
    // (CI: 4 names once), which the restart removes (checked below).
    const afterKill = (await versionDirs(target())).filter((d) => d !== '..data_tmp');
    expect(afterKill.length, `${what}: version directories after the kill: ${afterKill.join(' ')}`).toBeLessThanOrEqual(3);

    agent = await launch();
    await waitFor(
      `${what}: app reloaded on version ${n}`,
      async () => (await app.loaded()).at(-1) === String(n) && (await liveVersion(target()))?.version === String(n),
      20_000,
    );
    expect(await liveVersion(target())).toEqual(opts.files(n));
    // Settled (the save after the reload done), so no save or staging is in flight below.
    await waitFor(`${what}: reload settled in the state`, async () => {
      const state = JSON.parse(await readFile(join(stateDir(), 'state.json'), 'utf8'));
      return state.reloadOwed === undefined && state.current?.files.version !== undefined;
    });
    expect((await agentDetails(agent)).version.generation, `${what}: generations never reused`).toBeGreaterThanOrEqual(n + 1);
    const dirs = await versionDirs(target());
    expect(dirs.length, `${what}: no staging debris after the restart`).toBeLessThanOrEqual(2);
    expect(dirs).not.toContain('..data_tmp');
    expect(await readdir(stateDir())).not.toContain('state.json.tmp');
  }
  console.log(`kills (seed ${seed}):\n  ${killedAt.join('\n  ')}`);
}
