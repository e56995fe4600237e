// Watches the directories holding the certificate files, not the files: Kubernetes renews a
// Secret volume by re-pointing the `..data` symlink, which a watch on the file itself misses.
// Bursts of events are coalesced into one reload; a periodic content check backs the watch up.
// Only events naming a watched file or a Kubernetes `..`-entry (`..data`, `..2026_…`) count: a
// certificate kept in a busy directory (next to a log file, say) must not cost a wake-up and a
// timer reset per unrelated write.
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

export class CertWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private readonly reload: () => Promise<unknown>;
  private readonly log: Logger;

  constructor(files: string[], reload: () => Promise<unknown>, log: Logger, pollMs: number) {
    this.reload = reload;
    this.log = log;
    const names = new Map<string, Set<string>>();
    for (const f of files) {
      const dir = dirname(f);
      if (!names.has(dir)) names.set(dir, new Set());
      names.get(dir)!.add(basename(f));
    }
    for (const [dir, watched] of names) {
      try {
        const w = watch(dir, (_event, name) => {
          if (relevant(name, watched)) this.schedule();
        });
        w.on('error', (err) => log.warn({ dir, err: err.message }, 'certificate directory watch failed; relying on the periodic check'));
        this.watchers.push(w);
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'cannot watch certificate directory; relying on the periodic check');
      }
    }
    if (pollMs > 0 && files.length) this.poll = setInterval(() => this.schedule(0), pollMs).unref();
  }

  private schedule(delay = 150): void {
    clearTimeout(this.timer);
    // cert-manager writes cert and key as separate events: wait for the burst to settle.
    this.timer = setTimeout(() => void this.run(), delay).unref();
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reload().then(
      () => {},
      (err: Error) => this.log.error({ err: err.message }, 'certificate reload failed'),
    );
    await this.running;
    this.running = undefined;
    if (this.again) {
      this.again = false;
      this.schedule();
    }
  }

  close(): void {
    clearTimeout(this.timer);
    clearInterval(this.poll);
    for (const w of this.watchers) w.close();
  }
}

/** No name (some platforms omit it), a watched file, or one of the atomic writer's `..` entries. */
export function relevant(name: string | Buffer | null, watched: Set<string>): boolean {
  if (name === null) return true;
  const n = name.toString();
  return watched.has(n) || n.startsWith('..');
}
