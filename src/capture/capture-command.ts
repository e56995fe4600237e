// `sidekick capture`: finds nft (else iptables), checks CAP_NET_ADMIN, then writes or removes the
// rules of capture-rules.ts in the current network namespace, or only prints them (--dry-run).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { SidekickError } from '../errors.ts';
import type { CaptureOptions } from './capture-options.ts';
import { type IptCommand, iptablesClean, iptablesCommands, nftCleanScript, nftScript } from './capture-rules.ts';

const CAP_NET_ADMIN = 12;

export class CaptureError extends SidekickError<'ERR_SIDEKICK_CAPTURE_NO_BACKEND' | 'ERR_SIDEKICK_CAPTURE_CAPABILITY' | 'ERR_SIDEKICK_CAPTURE_APPLY'> {
  constructor(message: string, code: CaptureError['code']) {
    super(code, message);
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The backend to use, and the version line it reports (said on stderr, as the issue asks). */
export async function findBackend(want: CaptureOptions['backend']): Promise<{ backend: 'nft' | 'iptables'; version: string }> {
  if (want !== 'iptables') {
    const nft = await run('nft', ['--version']);
    if (nft.code === 0) return { backend: 'nft', version: nft.stdout.trim() };
    if (want === 'nft') throw new CaptureError('nft not found (install nftables)', 'ERR_SIDEKICK_CAPTURE_NO_BACKEND');
  }
  const ipt = await run('iptables', ['--version']);
  if (ipt.code === 0) return { backend: 'iptables', version: ipt.stdout.trim() };
  throw new CaptureError('neither nft nor iptables found: install nftables (or iptables)', 'ERR_SIDEKICK_CAPTURE_NO_BACKEND');
}

/** Whether this process holds CAP_NET_ADMIN in its effective set (/proc/self/status CapEff). */
export async function hasNetAdmin(): Promise<boolean> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return !!m && (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_NET_ADMIN))) !== 0n;
}

const NO_CAP = 'missing capability CAP_NET_ADMIN, needed to change firewall rules in the pod\'s network namespace ' +
  '(Kubernetes: securityContext.capabilities.add: [NET_ADMIN] on the init container)';

const ipt = (c: IptCommand) => `${c.tool} ${c.args.join(' ')}`;

/** Text to print and exit code. */
export async function runCapture(o: CaptureOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  // --dry-run prints the nft rules even where no tool is installed (a laptop reviewing them).
  const { backend, version } = await findBackend(o.backend).catch((err: unknown) => {
    if (o.dryRun && o.backend !== 'iptables') return { backend: 'nft' as const, version: 'not installed here' };
    throw err;
  });
  err(`sidekick capture: using ${backend === 'nft' ? 'nftables' : 'iptables'} (${version})\n`);
  if (o.dryRun) {
    if (backend === 'nft') out(o.clean ? nftCleanScript() : nftScript(o));
    else for (const c of o.clean ? iptablesClean() : iptablesCommands(o)) out(`${c.mayFail ? '-' : ''}${ipt(c)}\n`);
    return 0;
  }
  if (!(await hasNetAdmin())) throw new CaptureError(NO_CAP, 'ERR_SIDEKICK_CAPTURE_CAPABILITY');
  if (backend === 'nft') {
    const script = o.clean ? nftCleanScript() : nftScript(o);
    const r = await run('nft', ['-f', '-'], script);
    if (r.code !== 0) throw failure('nft', r);
  } else {
    const ip6 = (await run('ip6tables', ['--version'])).code === 0;
    for (const c of o.clean ? iptablesClean() : iptablesCommands(o)) {
      if (c.tool === 'ip6tables' && !ip6) continue;
      const r = await run(c.tool, ['-w', ...c.args]);
      if (r.code !== 0 && !c.mayFail) throw failure(ipt(c), r);
    }
  }
  out(o.clean ? 'sidekick capture: rules removed\n' : 'sidekick capture: rules written\n');
  return 0;
}

function failure(what: string, r: Run): CaptureError {
  if (/Operation not permitted|Permission denied/i.test(r.stderr)) {
    // iptables-legacy opens a raw socket: it needs CAP_NET_RAW besides CAP_NET_ADMIN (nft does not).
    const raw = /legacy/.test(r.stderr) ? ' (iptables-legacy also needs CAP_NET_RAW)' : '';
    return new CaptureError(`${NO_CAP}${raw}: ${what}: ${r.stderr.trim()}`, 'ERR_SIDEKICK_CAPTURE_CAPABILITY');
  }
  return new CaptureError(`${what} failed (exit ${r.code}): ${r.stderr.trim()}`, 'ERR_SIDEKICK_CAPTURE_APPLY');
}
