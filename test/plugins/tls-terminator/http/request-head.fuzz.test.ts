// Differential fuzz test of the fast path's request parsing against llhttp (Node's http server).
// Bounded and seeded: SIDEKICK_FUZZ_SEED replays a failure, SIDEKICK_FUZZ_ITERATIONS lengthens
// the run (bench/http-fuzz.ts runs long ones).
import { describe, expect, it } from 'vitest';
import { mutate, request } from '../fuzz/messages.ts';
import { Random, fuzzSettings, iterationSeed } from '../fuzz/random.ts';
import { NodeServer, compareRequests, fastPath } from '../fuzz/request-diff.ts';

const { seed, iterations } = fuzzSettings(8000);

describe('fast path request parsing vs llhttp', () => {
  it(`takes only what llhttp takes, identically (seed ${seed}, ${iterations} iterations)`, async () => {
    const server = new NodeServer();
    let accepted = 0;
    for (let i = 0; i < iterations; i++) {
      const r = new Random(iterationSeed(seed, i));
      const odd = r.pick([0, 0.02, 0.05, 0.1, 0.2, 0.5]);
      let text = request(r, { odd });
      if (r.chance(0.2)) text += request(r, { odd });
      if (r.chance(0.6)) text = mutate(r, text, () => request(r, { odd }));
      const input = Buffer.from(text, 'latin1');
      const fast = fastPath(input);
      if (fast.messages.length === 0) continue; // declined at once: Node's path, nothing to compare
      accepted++;
      const diff = compareRequests(fast, await server.feed(input));
      if (diff) expect.fail(`${diff}\nreplay: SIDEKICK_FUZZ_SEED=${seed} SIDEKICK_FUZZ_ITERATIONS=${i + 1}\ninput: ${JSON.stringify(text)}`);
    }
    // The generator must keep exercising the accepting side, or the test proves nothing.
    expect(accepted).toBeGreaterThan(iterations / 8);
  });
});
