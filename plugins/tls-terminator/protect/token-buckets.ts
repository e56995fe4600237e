// Token buckets, one per key, in a map bounded by least-recent use. An LRU rather than a
// fixed-size sketch (count-min and the like): each key gets its own exact bucket, so one client
// is never limited because another hashed into its cell. What the bound costs: a flood of more
// distinct keys than `maxKeys` evicts the least recently seen keys first, and an evicted key
// comes back with a full bucket, so it can get at most one more burst; the evictions are counted.
// A key that has been idle long enough to refill is the same as an absent one, so dropping it
// loses nothing.

/** Milliseconds from a monotonic clock; tests pass their own. */
export type Clock = () => number;

interface Bucket {
  tokens: number;
  /** Clock time of the last refill. */
  at: number;
}

export interface BucketsOptions {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: the most requests taken at once after a quiet spell. */
  burst: number;
  maxKeys: number;
  clock: Clock;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  /** Called when a key is dropped to make room; set by the instance that uses the buckets now. */
  onEvict?: () => void;
  private readonly clock: Clock;

  constructor(o: BucketsOptions) {
    this.perMs = o.rate / 1000;
    this.burst = o.burst;
    this.maxKeys = o.maxKeys;
    this.clock = o.clock;
  }

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one token for `key`. 0: allowed. Otherwise refused, and the answer is how many whole
   * seconds until a token is there (at least 1), for Retry-After.
   */
  take(key: string): number {
    const now = this.clock();
    let b = this.buckets.get(key);
    if (b === undefined) {
      // At the bound, the least recently used bucket is taken over: a flood of new keys allocates nothing.
      b = this.buckets.size >= this.maxKeys ? this.evictOldest() : undefined;
      if (b) {
        b.tokens = this.burst;
        b.at = now;
      } else b = { tokens: this.burst, at: now };
    } else {
      // Re-inserted below: a Map iterates in insertion order, so the first key is the least recently used.
      this.buckets.delete(key);
      if (now > b.at) {
        b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
        b.at = now;
      }
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000));
  }

  private evictOldest(): Bucket | undefined {
    const oldest = this.buckets.entries().next();
    if (oldest.done) return undefined;
    this.buckets.delete(oldest.value[0]);
    this.onEvict?.();
    return oldest.value[1];
  }
}
