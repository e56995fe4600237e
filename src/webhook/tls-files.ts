// The serving certificate and key, read from files and read again when they change. A
// Kubernetes Secret volume updates by swapping its `..data` symlink, which renames an entry of
// the directory: watching the directory (not the files, whose inodes the swap leaves behind)
// sees it. A half-written pair (cert of one, key of the other) fails to load and the old pair
// stays until the next change; a timer re-checks in case a watch event was missed.
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  cert: string;
  key: string;
}

export class TlsReloader {
  private readonly files: TlsFiles;
  private readonly onChange: (pair: TlsFiles) => void;
  private readonly onError: (err: Error) => void;
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loaded = '';

  constructor(files: TlsFiles, onChange: (pair: TlsFiles) => void, onError: (err: Error) => void) {
    this.files = files;
    this.onChange = onChange;
    this.onError = onError;
  }

  /** Reads the pair (PEM texts) now; throws when it does not load (at start-up, that is fatal). */
  load(): TlsFiles {
    const cert = readFileSync(this.files.cert, 'utf8');
    const key = readFileSync(this.files.key, 'utf8');
    createSecureContext({ cert, key });
    this.loaded = cert + key;
    return { cert, key };
  }

  start(recheckMs = 30_000): void {
    for (const dir of new Set([dirname(this.files.cert), dirname(this.files.key)])) {
      const watcher = watch(dir, () => this.schedule());
      watcher.on('error', (err) => this.onError(err));
      this.watchers.push(watcher);
    }
    this.timer = setInterval(() => this.reload(), recheckMs);
    this.timer.unref();
  }

  close(): void {
    for (const w of this.watchers.splice(0)) w.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  private schedule(): void {
    // A swap is several renames in a row; read once they settle.
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.reload(), 50);
  }

  private reload(): void {
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(this.files.cert, 'utf8');
      key = readFileSync(this.files.key, 'utf8');
    } catch (err) {
      return this.onError(err as Error);
    }
    if (cert + key === this.loaded) return;
    try {
      createSecureContext({ cert, key });
      this.loaded = cert + key;
      this.onChange({ cert, key });
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
