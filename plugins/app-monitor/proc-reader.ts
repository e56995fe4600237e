// Reads a process's figures from /proc, as process-exporter does: stat (CPU ticks, start),
// status (memory, threads), fd/ (open descriptors) and limits (their ceiling).
import { readFile, readdir } from 'node:fs/promises';

// USER_HZ: the unit of /proc/<pid>/stat times. The kernel exposes 100 to user space on every
// architecture Linux containers run on (x86, arm64), whatever CONFIG_HZ is.
const TICKS_PER_SECOND = 100;

export interface ProcessFigures {
  pid: number;
  ppid: number;
  comm: string;
  cpuSeconds: number;
  residentBytes: number;
  virtualBytes: number;
  threads: number;
  /** Unix time, seconds. */
  startTime: number;
  /** undefined when fd/ could not be read (another user's process without CAP_SYS_PTRACE). */
  openFds?: number;
  maxFds?: number;
  /** Why some figure is missing, e.g. "fd: EACCES". */
  problem?: string;
}

let bootTime: number | undefined;

/** Boot time from /proc/stat (btime), read once: process start times count from it. */
export async function readBootTime(procDir = '/proc'): Promise<number> {
  if (bootTime !== undefined && procDir === '/proc') return bootTime;
  const text = await readFile(`${procDir}/stat`, 'utf8');
  const m = /^btime (\d+)$/m.exec(text);
  const value = m ? Number(m[1]) : 0;
  if (procDir === '/proc') bootTime = value;
  return value;
}

/** How many processes this agent sees: 1-2 means no shared process namespace. */
export async function visibleProcesses(procDir = '/proc'): Promise<number> {
  let n = 0;
  for (const entry of await readdir(procDir)) if (entry.charCodeAt(0) >= 48 && entry.charCodeAt(0) <= 57) n++;
  return n;
}

/** The figures of one process, or undefined when it has exited. */
export async function readProcess(pid: number, procDir = '/proc'): Promise<ProcessFigures | undefined> {
  const dir = `${procDir}/${pid}`;
  let stat: string;
  let status: string;
  try {
    [stat, status] = await Promise.all([readFile(`${dir}/stat`, 'utf8'), readFile(`${dir}/status`, 'utf8')]);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses: split after the last ')'.
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const f = stat.slice(close + 2).split(' ');
  // Fields counted from "state" (field 3 of proc(5)): utime 14, stime 15, threads 20, starttime 22.
  const boot = await readBootTime(procDir);
  const figures: ProcessFigures = {
    pid,
    ppid: Number(f[1]),
    comm,
    cpuSeconds: (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND,
    residentBytes: statusKb(status, 'VmRSS') * 1024,
    virtualBytes: statusKb(status, 'VmSize') * 1024,
    threads: Number(f[17]),
    startTime: boot + Number(f[19]) / TICKS_PER_SECOND,
  };
  try {
    figures.openFds = (await readdir(`${dir}/fd`)).length;
  } catch (err) {
    figures.problem = `cannot read ${dir}/fd: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  try {
    const limits = await readFile(`${dir}/limits`, 'utf8');
    const m = /^Max open files\s+(\S+)/m.exec(limits);
    if (m && m[1] !== 'unlimited') figures.maxFds = Number(m[1]);
  } catch (err) {
    figures.problem ??= `cannot read ${dir}/limits: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  return figures;
}

function statusKb(status: string, key: string): number {
  const at = status.indexOf(`\n${key}:`);
  if (at < 0) return 0; // kernel threads and zombies have no memory lines
  return Number.parseInt(status.slice(at + key.length + 2), 10) || 0;
}
