// kill -9 before anything was acknowledged, around every rotation the README supports, with the
// real agent process and a real HTTP aggregator on loopback that answers 503 until it is healthy.
// Nothing acknowledged before the kill means every line must arrive after the restart, once.
import { copyFile, mkdir, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent } from '../../helpers/agent-process.ts';
import { Receiver, eventually, expectAllOnce, lines, tempDir, writeLines } from './helpers.ts';

interface TrackedFile {
  path: string;
  state: string;
  size: number;
}

describe('log-shipper: kill -9 before the first acknowledgement', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let rx: Receiver;
  let agent: AgentProcess | undefined;
  let logs: string;
  let app: string;

  beforeEach(async () => {
    dir = await tempDir();
    logs = join(dir.path, 'logs');
    app = join(logs, 'app.log');
    await mkdir(logs, { recursive: true });
    rx = await new Receiver().listen();
    rx.respond = () => ({ status: 503 });
  });
  afterEach(async () => {
    await agent?.stop('SIGKILL');
    agent = undefined;
    await rx.close();
    await dir.cleanup();
  });

  // `*.log` does not match app.log.1: a rotated file is found only by its identity.
  const start = () =>
    startAgent(
      dir.path,
      `admin: { listen: 127.0.0.1:0 }
dataDir: ${dir.path}/data
shutdownTimeout: 5s
plugins:
  logs:
    type: log-shipper
    include: ["${logs}/*.log"]
    pollInterval: 50ms
    rotateWait: 1s
    batch: { maxEvents: 1000, maxWait: 20ms }
    retry: { initialDelay: 50ms, maxDelay: 200ms }
    sink: { type: http, url: "${rx.url}" }
`,
    );

  const tracked = async (): Promise<TrackedFile[]> => (await agent!.status()).instances.logs.details.files;

  /** The agent has read the first file and tried to ship it (and was refused). */
  const refusedOnce = () => eventually(() => expect(rx.requests.length).toBeGreaterThan(0), 400);

  /** The agent runs, app.log holds 10,000 lines, and shipping them was refused once. */
  const firstFileRefused = async (): Promise<string[]> => {
    agent = await start();
    const first = lines('first', 10_000);
    await writeLines(app, first);
    await refusedOnce();
    return first;
  };

  /** The app's new app.log after a rotation: 5,000 more lines. */
  const writeNewFile = async (): Promise<string[]> => {
    const second = lines('second', 5_000);
    await writeLines(app, second);
    return second;
  };

  const killAndRestartHealthy = async () => {
    await agent!.stop('SIGKILL');
    expect(rx.records).toEqual([]); // nothing was acknowledged before the kill
    rx.respond = () => ({ status: 200 });
    agent = await start();
  };

  const expectEveryLineOnce = (expected: string[]) => eventually(() => expectAllOnce(rx.messages(), expected), 400);

  it('rename + create while running, killed before any acknowledgement: the renamed file is shipped after the restart', async () => {
    const first = await firstFileRefused();
    await rename(app, `${app}.1`);
    const second = await writeNewFile();
    // The agent saw the rotation: it drains the old file and tails the new one.
    await eventually(async () => {
      const files = await tracked();
      expect(files.some((f) => f.state === 'draining')).toBe(true);
      expect(files.some((f) => f.state === 'active' && f.path === app)).toBe(true);
    }, 400);
    await killAndRestartHealthy();
    await expectEveryLineOnce([...first, ...second]);
  }, 60_000);

  it('rename + create while the agent is down: the renamed file is found by identity', async () => {
    const first = await firstFileRefused();
    await agent!.stop('SIGKILL');
    await rename(app, `${app}.1`);
    const second = await writeNewFile();
    await killAndRestartHealthy();
    await expectEveryLineOnce([...first, ...second]);
  }, 60_000);

  it('copytruncate while running, killed before any acknowledgement: the copy is shipped after the restart', async () => {
    const first = await firstFileRefused();
    await copyFile(app, `${app}.1`);
    await truncate(app, 0);
    const second = await writeNewFile();
    await eventually(async () => expect((await tracked()).some((f) => f.path === `${app}.1`)).toBe(true), 400);
    await killAndRestartHealthy();
    await expectEveryLineOnce([...first, ...second]);
  }, 60_000);

  it('copytruncate while the agent is down: the copy is found by its first bytes', async () => {
    const first = await firstFileRefused();
    await agent!.stop('SIGKILL');
    await copyFile(app, `${app}.1`);
    await truncate(app, 0);
    const second = await writeNewFile();
    await killAndRestartHealthy();
    await expectEveryLineOnce([...first, ...second]);
  }, 60_000);

  it('delete + create while running, sink back before any kill: the deleted file is read to its end', async () => {
    const first = await firstFileRefused();
    await rm(app);
    const second = await writeNewFile();
    await eventually(async () => expect((await tracked()).some((f) => f.state === 'draining')).toBe(true), 400);
    rx.respond = () => ({ status: 200 });
    await expectEveryLineOnce([...first, ...second]);
  }, 60_000);

  it('delete + create while running, then kill -9: the deleted bytes cannot be read again and are reported lost, not forgotten', async () => {
    const first = await firstFileRefused();
    await rm(app);
    const second = await writeNewFile();
    await eventually(async () => expect((await tracked()).some((f) => f.state === 'draining')).toBe(true), 400);
    await killAndRestartHealthy();
    await expectEveryLineOnce(second);
    const size = first.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    const lost = await agent!.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('LOG LINES LOST'));
    expect(lost).toMatchObject({ file: app, bytes: size });
  }, 60_000);
});
