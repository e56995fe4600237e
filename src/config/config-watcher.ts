// Notices changes to the config file: an edit, a replace by rename, or a Kubernetes
// ConfigMap volume's `..data` symlink swap (which never touches the file itself).
// Watching the directory catches all three; a slow poll covers filesystems without inotify.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export class ConfigWatcher {
  private watcher?: FSWatcher;
  private poll?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;

  constructor(file: string, onChange: () => void, pollMs = 5000) {
    const fire = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(onChange, 100); // a ..data swap is several events: act once
    };
    try {
      const name = basename(file);
      // Only the file and Kubernetes' `..data` / `..<timestamp>` entries count: a log or any
      // other file written in the same directory must not cost a re-read and hash per write.
      this.watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed.startsWith('..')) fire();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // No inotify (or too many watches): the poll still notices changes.
    }
    this.poll = setInterval(onChange, pollMs).unref();
  }

  close(): void {
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }
}
