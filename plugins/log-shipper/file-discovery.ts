// Finds the files matching the include globs (and not the exclude globs) as they appear
// and go. chokidar 6 watches directories, not globs: watch each glob's static base
// directory and filter paths with node's own glob matcher.
import { type Stats, existsSync, statSync } from 'node:fs';
import { matchesGlob } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';

export interface DiscoveryEvents {
  /** A matching file appeared or changed (also for every file found by the initial scan). */
  seen(path: string): void;
  gone(path: string): void;
  error(err: Error): void;
}

export class FileDiscovery {
  private readonly include: string[];
  private readonly exclude: string[];
  private watcher: FSWatcher | undefined;

  constructor(include: string[], exclude: string[]) {
    this.include = include;
    this.exclude = exclude;
  }

  matches(path: string): boolean {
    return this.include.some((g) => matchesGlob(path, g)) && !this.exclude.some((g) => matchesGlob(path, g));
  }

  excluded(path: string): boolean {
    return this.exclude.some((g) => matchesGlob(path, g));
  }

  /** Resolves after the initial scan, once `seen` was called for every file already there. */
  start(events: DiscoveryEvents): Promise<void> {
    const roots = [...new Set(this.include.map(globBase))];
    const deep = this.include.some((g) => g.includes('**'));
    // A depth limit keeps chokidar out of unrelated subdirectories; but chokidar applies it from
    // the nearest existing ancestor when a root is missing, so then do without (filtering still applies).
    const depth = deep || !roots.every((r) => existsSync(r)) ? undefined : Math.max(...this.include.map((g) => g.split('/').length - globBase(g).split('/').length - 1));
    const watcher = watch(roots, {
      ignored: (p, stats) => stats?.isFile() === true && !this.matches(p) && namesThisFile(p, stats),
      atomic: false,
      ...(depth !== undefined ? { depth: Math.max(0, depth) } : {}),
    });
    this.watcher = watcher;
    watcher.on('add', (p) => this.matches(p) && events.seen(p));
    watcher.on('change', (p) => this.matches(p) && events.seen(p));
    watcher.on('unlink', (p) => this.matches(p) && events.gone(p));
    watcher.on('error', (e) => events.error(e as Error));
    return new Promise((resolve) => watcher.once('ready', resolve));
  }

  close(): Promise<void> {
    return this.watcher?.close() ?? Promise.resolve();
  }
}

/**
 * chokidar hands `ignored` the path with every "\\" turned into "/" (its Windows
 * normalisation), so on POSIX `logs/x\\y.log` arrives as `logs/x/y.log`, matches no glob and
 * was ignored for good. Ignore a file only when the path given really names it; otherwise
 * let it through: the add/change events carry the real name and are matched again there.
 */
function namesThisFile(p: string, stats: Stats): boolean {
  if (!p.includes('/') || process.platform === 'win32') return true;
  const st = statSync(p, { throwIfNoEntry: false });
  return st !== undefined && st.ino === stats.ino && st.dev === stats.dev;
}

/** The directory part of a glob before its first wildcard: what must be watched. */
export function globBase(glob: string): string {
  const parts = glob.split('/');
  const i = parts.findIndex((p) => /[*?[\]{}!]/.test(p));
  const base = (i === -1 ? parts.slice(0, -1) : parts.slice(0, i)).join('/');
  return base === '' ? '/' : base;
}
