// Counts of JA4 fingerprints seen, for /status. Bounded: once full, new fingerprints are only
// counted in the total, so a client cycling random ClientHellos cannot grow memory.
const MAX_DISTINCT = 10_000;

export class FingerprintCounts {
  private readonly counts = new Map<string, number>();
  total = 0;
  overflow = 0;

  add(ja4: string): void {
    this.total++;
    const n = this.counts.get(ja4);
    if (n !== undefined) this.counts.set(ja4, n + 1);
    else if (this.counts.size < MAX_DISTINCT) this.counts.set(ja4, 1);
    else this.overflow++;
  }

  top(n: number): Array<{ ja4: string; count: number }> {
    return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([ja4, count]) => ({ ja4, count }));
  }

  get distinct(): number {
    return this.counts.size;
  }
}
