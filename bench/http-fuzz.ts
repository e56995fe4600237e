// The long run of the differential fuzz tests (test/plugins/tls-terminator/*/*.fuzz.test.ts run
// a few thousand iterations in `npm test`): the fast path's request parsing and ResponseParser
// against llhttp, for as many iterations as asked.
//
//   node bench/http-fuzz.ts [requests|responses|both] [iterations=100000] [seed=random] [--keep-going]
//
// Exit status 1 on any divergence; each is printed with the seed, the iteration and the input
// (JSON-escaped) and replays alone with SIDEKICK_FUZZ_SEED=<seed> SIDEKICK_FUZZ_ITERATIONS=<i+1>
// on the test file. --keep-going counts divergences by kind instead of stopping at the first.
import { mutate, request, response } from '../test/plugins/tls-terminator/fuzz/messages.ts';
import { Random, iterationSeed } from '../test/plugins/tls-terminator/fuzz/random.ts';
import { NodeServer, compareRequests, fastPath } from '../test/plugins/tls-terminator/fuzz/request-diff.ts';
import { llhttp, oursBothWays } from '../test/plugins/tls-terminator/fuzz/response-diff.ts';
import { compareResponses } from '../test/plugins/tls-terminator/fuzz/response-rules.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const keepGoing = process.argv.includes('--keep-going');
const which = args[0] ?? 'both';
const iterations = Number(args[1] ?? 100_000);
const seed = args[2] !== undefined ? Number(args[2]) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

/** One iteration of the request test, exactly as request-head.fuzz.test.ts builds it. */
async function requestCase(server: NodeServer, i: number): Promise<[string, string] | undefined> {
  const r = new Random(iterationSeed(seed, i));
  const odd = r.pick([0, 0.02, 0.05, 0.1, 0.2, 0.5]);
  let text = request(r, { odd });
  if (r.chance(0.2)) text += request(r, { odd });
  if (r.chance(0.6)) text = mutate(r, text, () => request(r, { odd }));
  const input = Buffer.from(text, 'latin1');
  const fast = fastPath(input);
  if (fast.messages.length === 0) return undefined;
  const diff = compareRequests(fast, await server.feed(input));
  return diff ? [diff, text] : undefined;
}

/** One iteration of the response test, exactly as response-parser.fuzz.test.ts builds it. */
async function responseCase(i: number): Promise<[string, string] | undefined> {
  const r = new Random(iterationSeed(seed, i));
  const odd = r.pick([0, 0.02, 0.05, 0.1, 0.2, 0.5]);
  const method = r.chance(0.15) ? 'HEAD' : 'GET';
  let text = response(r, { odd });
  if (r.chance(0.6)) text = mutate(r, text, () => response(r, { odd }));
  const input = Buffer.from(text, 'latin1');
  const { whole, split } = oursBothWays(input, method);
  const diff = split ?? compareResponses(whole, await llhttp(input, method));
  return diff ? [`${diff} [${method}]`, text] : undefined;
}

async function run(name: string, step: (i: number) => Promise<[string, string] | undefined>): Promise<number> {
  const kinds = new Map<string, { n: number; example: string; i: number }>();
  const t0 = performance.now();
  let found = 0;
  for (let i = 0; i < iterations; i++) {
    const d = await step(i);
    if (!d) continue;
    found++;
    const kind = d[0].replace(/"[^"]*"|\[[^\]]*\]|\d+/g, '_');
    const k = kinds.get(kind);
    if (k) k.n++;
    else kinds.set(kind, { n: 1, example: `${d[0]}\n    input: ${JSON.stringify(d[1])}`, i });
    if (!keepGoing) {
      console.log(`${name}: divergence at iteration ${i} (seed ${seed}): ${d[0]}\n  input: ${JSON.stringify(d[1])}`);
      break;
    }
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`${name}: ${iterations} iterations, seed ${seed}, ${s.toFixed(1)} s (${Math.round(iterations / s)}/s), ${found} divergences`);
  for (const [, k] of [...kinds].sort((a, b) => b[1].n - a[1].n)) console.log(`  ${k.n}x (first at ${k.i}): ${k.example}`);
  return found;
}

let failed = 0;
if (which === 'requests' || which === 'both') {
  const server = new NodeServer();
  failed += await run('requests', (i) => requestCase(server, i));
}
if (which === 'responses' || which === 'both') failed += await run('responses', responseCase);
process.exit(failed ? 1 : 0);
