// A small seeded PRNG (mulberry32) for the differential fuzz tests: the same seed replays the
// same inputs, so a failure's printed seed and iteration reproduce it exactly.

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** The seed of iteration `i` of a run: every iteration can be replayed on its own. */
export function iterationSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

/** Run parameters from the environment: SIDEKICK_FUZZ_SEED replays, SIDEKICK_FUZZ_ITERATIONS lengthens. */
export function fuzzSettings(defaultIterations: number): { seed: number; iterations: number } {
  const s = process.env.SIDEKICK_FUZZ_SEED;
  const n = process.env.SIDEKICK_FUZZ_ITERATIONS;
  return {
    seed: s ? Number(s) >>> 0 : (Math.random() * 2 ** 32) >>> 0,
    iterations: n ? Number(n) : defaultIterations,
  };
}
