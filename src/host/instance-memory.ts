// In-memory state an instance hands to the instance that replaces it on a reload (same name),
// as Caddy's UsagePool keeps a rate limiter's state across config loads: a changed config
// restarts the instance, and a rate limit must not forget every client because of it. A value
// lives as long as each new instance of the name asks for it again; what the replacement did
// not ask for is dropped once it has started.
export class InstanceMemory {
  private readonly byName = new Map<string, { values: Map<string, unknown>; used: Set<string> }>();

  /** The `keep` function of one launch of `name`'s instance; a new launch starts a new record of what it used. */
  forLaunch(name: string): <T>(key: string, make: () => T) => T {
    let entry = this.byName.get(name);
    if (!entry) this.byName.set(name, (entry = { values: new Map(), used: new Set() }));
    const e = entry;
    e.used = new Set();
    const used = e.used;
    return <T>(key: string, make: () => T): T => {
      used.add(key);
      if (e.values.has(key)) return e.values.get(key) as T;
      const value = make();
      e.values.set(key, value);
      return value;
    };
  }

  /** After `name`'s new instance started: forget what it did not ask for. */
  prune(name: string): void {
    const e = this.byName.get(name);
    if (!e) return;
    for (const key of e.values.keys()) if (!e.used.has(key)) e.values.delete(key);
  }

  /** The instance is gone from the config. */
  forget(name: string): void {
    this.byName.delete(name);
  }
}
