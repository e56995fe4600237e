// Finds the app by name in a shared process namespace: /proc/<pid>/comm, or the basename of
// argv[0] (comm is cut at 15 characters). When a master and its workers match, only the
// top-most ones are returned, so nginx-style apps get one signal, not one per worker.
import { readFile, readdir } from 'node:fs/promises';

export async function findProcesses(name: string, procDir = '/proc'): Promise<number[]> {
  const matches = new Map<number, number>(); // pid -> ppid
  for (const entry of await readdir(procDir)) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const comm = (await readFile(`${procDir}/${entry}/comm`, 'utf8')).trim();
      let hit = comm === name;
      if (!hit) {
        const argv0 = (await readFile(`${procDir}/${entry}/cmdline`, 'utf8')).split('\0', 1)[0] ?? '';
        hit = argv0 === name || argv0.slice(argv0.lastIndexOf('/') + 1) === name;
      }
      if (hit) matches.set(pid, await parentOf(procDir, entry));
    } catch {
      // The process exited while we looked, or is not ours to read: not a match.
    }
  }
  return [...matches.keys()].filter((pid) => !matches.has(matches.get(pid)!)).sort((a, b) => a - b);
}

async function parentOf(procDir: string, pid: string): Promise<number> {
  const stat = await readFile(`${procDir}/${pid}/stat`, 'utf8');
  // "pid (comm) state ppid ..."; comm may contain spaces and parentheses, so split after the last ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
