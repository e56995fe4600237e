// Finds the app by name in a shared process namespace: /proc/<pid>/comm, or the basename of
// argv[0] (comm is cut at 15 characters). When a master and its workers match, only the
// top-most ones are returned, so nginx-style apps get one signal, not one per worker.
import { readFile } from 'node:fs/promises';
import { processesByName } from '../../src/plugin-api.ts';

export async function findProcesses(name: string, procDir = '/proc'): Promise<number[]> {
  const matches = new Map<number, number>(); // pid -> ppid
  for (const pid of await processesByName(name, procDir)) {
    try {
      matches.set(pid, await parentOf(procDir, String(pid)));
    } catch {
      // Exited since it was found: not a match.
    }
  }
  return [...matches.keys()].filter((pid) => !matches.has(matches.get(pid)!));
}

async function parentOf(procDir: string, pid: string): Promise<number> {
  const stat = await readFile(`${procDir}/${pid}/stat`, 'utf8');
  // "pid (comm) state ppid ..."; comm may contain spaces and parentheses, so split after the last ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
