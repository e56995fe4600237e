// Watches the directories holding the certificate files, not the files: Kubernetes renews a
// Secret volume by re-pointing the `..data` symlink, which a watch on the file itself misses.
// Bursts of events are coalesced into one reload; a periodic content check backs the watch up.
import { type FSWatcher, watch } from 'node:fs';
import { dirname } from 'node:path';
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
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        const w = watch(dir, () => this.schedule());
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
