// The dir source under the real agent: symlinks that leave the source directory (to a file
// such as /etc/passwd, or to an outside tree) are refused, naming the link; links that stay
// inside it are followed.
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgent, tempDir, type AgentProcess } from '../../helpers/agent-process.ts';
import { agentDetails, killAgent, liveVersion, waitFor } from './helpers.ts';

let work: { path: string; cleanup: () => Promise<void> };
const agents: AgentProcess[] = [];

beforeEach(async () => {
  work = await tempDir('cs-links-');
});
afterEach(async () => {
  for (const a of agents.splice(0)) await killAgent(a);
  await work.cleanup();
});

const yaml = `
admin: { listen: 127.0.0.1:0 }
dataDir: ./data
plugins:
  app-config:
    type: config-sync
    source:
      dir: { path: ./src }
    target: ./shared/config
    interval: 50ms
    backoff: { initial: 20ms, max: 100ms }
`;

describe('config-sync dir source and symlinks', () => {
  it('refuses a link to a file or a tree outside the source, naming it; follows links inside it', async () => {
    const src = join(work.path, 'src');
    const target = join(work.path, 'shared/config');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'A');
    await symlink('/etc/passwd', join(src, 'b.txt'));
    const agent = await startAgent(work.path, yaml);
    agents.push(agent);
    await waitFor('unsafe link refused', async () => (await agentDetails(agent)).lastError?.code === 'ERR_SIDEKICK_SYNC_UNSAFE_PATH');
    expect((await agentDetails(agent)).lastError.message).toMatch(/b\.txt.*symlink.*leaves the source/);
    expect(await liveVersion(target)).toBeUndefined();

    // A link that stays inside the source is fine. Replaced in one step (a new link renamed over
    // the old): between an unlink and a symlink a poll can list a source with a.txt alone, a
    // version of its own (CI published it as generation 1 once).
    await symlink('a.txt', join(src, 'b.txt.new'));
    await rename(join(src, 'b.txt.new'), join(src, 'b.txt'));
    await waitFor('published', async () => (await agentDetails(agent)).version?.generation === 1);
    expect(await liveVersion(target)).toEqual({ 'a.txt': 'A', 'b.txt': 'A' });

    // A link to a directory outside: its tree is not published.
    const outside = join(work.path, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret.key'), 'S');
    await symlink(outside, join(src, 'ext'));
    await waitFor('outside tree refused', async () => /ext.*leaves the source/.test((await agentDetails(agent)).lastError?.message ?? ''));
    expect((await agentDetails(agent)).version.generation).toBe(1);
    expect(await liveVersion(target)).toEqual({ 'a.txt': 'A', 'b.txt': 'A' });
  });
});
