// Finds processes by name in a shared process namespace: /proc/<pid>/comm, or the base name of
// argv[0] (comm is cut at 15 characters). The agent itself is never a match. Plugins that signal
// or watch the app (config-sync, app-monitor) share this one lookup.
import { readFile, readdir } from 'node:fs/promises';

/** Every visible pid whose comm, or the base name of argv[0], is `name`, in ascending order. */
export async function processesByName(name: string, procDir = '/proc'): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir(procDir)) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const comm = (await readFile(`${procDir}/${entry}/comm`, 'utf8')).trimEnd();
      let hit = comm === name;
      if (!hit) {
        const argv0 = (await readFile(`${procDir}/${entry}/cmdline`, 'utf8')).split('\0', 1)[0] ?? '';
        hit = argv0 === name || argv0.slice(argv0.lastIndexOf('/') + 1) === name;
      }
      if (hit) found.push(pid);
    } catch {
      // The process exited while we looked, or is not ours to read: not a match.
    }
  }
  return found.sort((a, b) => a - b);
}
