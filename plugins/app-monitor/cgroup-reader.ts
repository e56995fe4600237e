// The cgroup v2 figures of the app's container (or the pod, when the sidecar sees it):
// memory.current, memory.max, memory.events oom_kill, cpu.stat usage and throttling.
import { readFile } from 'node:fs/promises';

export interface CgroupFigures {
  dir: string;
  memoryBytes?: number;
  /** undefined: "max" (no limit). */
  memoryLimitBytes?: number;
  oomKills?: number;
  cpuUsageSeconds?: number;
  periods?: number;
  throttledPeriods?: number;
  throttledSeconds?: number;
}

/** The cgroup v2 directory of `pid` ("0::/path" in /proc/<pid>/cgroup), under `root`. */
export async function cgroupOf(pid: number, procDir = '/proc', root = '/sys/fs/cgroup'): Promise<string> {
  const text = await readFile(`${procDir}/${pid}/cgroup`, 'utf8');
  const m = /^0::(\/.*)$/m.exec(text);
  if (!m) throw new Error(`${procDir}/${pid}/cgroup has no cgroup v2 entry (a cgroup v1 host)`);
  // "/.." paths: the app's cgroup is outside this agent's cgroup namespace.
  if (m[1]!.startsWith('/..')) throw new Error(`the app's cgroup ${m[1]} is outside this container's cgroup namespace`);
  return m[1] === '/' ? root : `${root}${m[1]}`;
}

/** Reads what the directory has; throws when it is not a readable cgroup v2 directory. */
export async function readCgroup(dir: string): Promise<CgroupFigures> {
  const read = (file: string) => readFile(`${dir}/${file}`, 'utf8').then((t) => t, () => undefined);
  const [current, max, events, cpu] = await Promise.all([read('memory.current'), read('memory.max'), read('memory.events'), read('cpu.stat')]);
  if (current === undefined && cpu === undefined) throw new Error(`${dir} has no readable memory.current or cpu.stat (a cgroup v1 host, a directory that is not cgroup v2, or not readable)`);
  const figures: CgroupFigures = { dir };
  if (current !== undefined) figures.memoryBytes = Number(current.trim());
  if (max !== undefined && max.trim() !== 'max') figures.memoryLimitBytes = Number(max.trim());
  if (events !== undefined) figures.oomKills = keyed(events, 'oom_kill');
  if (cpu !== undefined) {
    const usage = keyed(cpu, 'usage_usec');
    const throttled = keyed(cpu, 'throttled_usec');
    figures.cpuUsageSeconds = usage === undefined ? undefined : usage / 1e6;
    figures.periods = keyed(cpu, 'nr_periods');
    figures.throttledPeriods = keyed(cpu, 'nr_throttled');
    figures.throttledSeconds = throttled === undefined ? undefined : throttled / 1e6;
  }
  return figures;
}

function keyed(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}
