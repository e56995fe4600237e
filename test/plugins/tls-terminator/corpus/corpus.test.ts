// The regression corpus of issue 14 against the real agent: each case on its own TLS connection,
// one agent and one raw-TCP app for the file. A case passes when the client and the app saw what
// nginx 1.22 does or something stricter (run-against-nginx.ts checks that claim), nothing forged
// or smuggled reached the app, and the next request on a new connection is served. An agent that
// dies on a case is restarted so that the cases after it still run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Terminator, startTerminator, tempDir } from '../helpers.ts';
import { check, describe as describeObservation, runCase } from './corpus-case.ts';
import { corpus } from './corpus-cases.ts';
import { RawApp } from './harness.ts';

let app: RawApp;
let dir: { path: string; cleanup: () => Promise<void> };
let term: Terminator;

const start = () => startTerminator(dir.path, `    upstream: http://127.0.0.1:${app.port}\n    timeouts: { upstream: 5s }\n`);
const alive = () => term.agent.child.exitCode === null && term.agent.child.signalCode === null;

beforeAll(async () => {
  app = new RawApp();
  await app.listen();
  dir = await tempDir('sidekick-corpus-');
  term = await start();
});

afterAll(async () => {
  await term?.agent.stop();
  await app?.close();
  await dir?.cleanup();
});

for (const cls of [...new Set(corpus.map((c) => c.class))]) {
  describe(cls, () => {
    for (const c of corpus.filter((x) => x.class === cls)) {
      it(`${c.id} (${c.rfc})`, async () => {
        if (!alive()) term = await start();
        const obs = await runCase(term.port, app, c);
        const problems = check(c, obs);
        if (obs.probe.status !== 200) {
          // A front that failed the probe may be on its way out: wait for the exit, bounded.
          const code = await Promise.race([term.agent.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 1000).unref())]);
          if (code !== 'running') problems.push(`the agent exited (code ${code}): ${term.agent.stderr().split('\n').filter(Boolean).slice(-3).join(' | ')}`);
        }
        expect(problems, describeObservation(obs)).toEqual([]);
      });
    }
  });
}
