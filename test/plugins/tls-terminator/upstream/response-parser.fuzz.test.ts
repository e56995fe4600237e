// Differential fuzz test of ResponseParser against llhttp (Node's HTTP client). Bounded and
// seeded: SIDEKICK_FUZZ_SEED replays a failure, SIDEKICK_FUZZ_ITERATIONS lengthens the run
// (bench/http-fuzz.ts runs long ones).
import { describe, expect, it } from 'vitest';
import { mutate, response } from '../fuzz/messages.ts';
import { Random, fuzzSettings, iterationSeed } from '../fuzz/random.ts';
import { llhttp, oursBothWays } from '../fuzz/response-diff.ts';
import { compareResponses } from '../fuzz/response-rules.ts';

const { seed, iterations } = fuzzSettings(1000);

describe('ResponseParser vs llhttp', () => {
  it(`refuses what llhttp refuses and reads the rest identically (seed ${seed}, ${iterations} iterations)`, async () => {
    let accepted = 0;
    for (let i = 0; i < iterations; i++) {
      const r = new Random(iterationSeed(seed, i));
      const odd = r.pick([0, 0.02, 0.05, 0.1, 0.2, 0.5]);
      const method = r.chance(0.15) ? 'HEAD' : 'GET';
      let text = response(r, { odd });
      if (r.chance(0.6)) text = mutate(r, text, () => response(r, { odd }));
      const input = Buffer.from(text, 'latin1');
      const { whole: o, split } = oursBothWays(input, method);
      if (o.error === undefined) accepted++;
      const diff = split ?? compareResponses(o, await llhttp(input, method));
      if (diff) expect.fail(`${diff}\nreplay: SIDEKICK_FUZZ_SEED=${seed} SIDEKICK_FUZZ_ITERATIONS=${i + 1}\nmethod: ${method}\ninput: ${JSON.stringify(text)}`);
    }
    expect(accepted).toBeGreaterThan(iterations / 5);
  });
});
