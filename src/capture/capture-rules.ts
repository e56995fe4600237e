// The rules `sidekick capture` writes, as text: an nft script (one atomic transaction) or a list
// of iptables commands. Kept apart from running them so --dry-run prints exactly what is applied.
//
// Inbound: nat PREROUTING only sees packets that arrive from outside the pod, so Sidekick's own
// connections to the app on loopback (nat OUTPUT) are never redirected back to Sidekick.
// Outbound: nat OUTPUT sees the pod's own connections; Sidekick's UID/GID return first, so its
// connections to the real destination leave as they are. Node cannot read SO_ORIGINAL_DST, so
// each captured destination is redirected to a port of its own (CIDR:PORT=LOCALPORT).
import type { CaptureOptions } from './capture-options.ts';

export const NFT_TABLE = 'sidekick_capture';
export const IPT_INBOUND = 'SIDEKICK_INBOUND';
export const IPT_OUTPUT = 'SIDEKICK_OUTPUT';

const set = (ports: number[]) => (ports.length === 1 ? String(ports[0]) : `{ ${ports.join(', ')} }`);

function inboundPorts(o: CaptureOptions): { ports: number[] | '*'; except: number[] } | undefined {
  if (o.inboundCapturePort === undefined) return undefined;
  if (o.inboundPorts === '*') return { ports: '*', except: [o.inboundCapturePort, ...o.localExcludePorts] };
  const ports = o.inboundPorts.filter((p) => !o.localExcludePorts.includes(p));
  return ports.length ? { ports, except: [] } : undefined;
}

/** Creating then deleting the table first makes the script replace any earlier copy atomically. */
export function nftScript(o: CaptureOptions): string {
  const lines = [`table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`, `table inet ${NFT_TABLE} {`];
  const inbound = inboundPorts(o);
  if (inbound) {
    lines.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;');
    if (inbound.ports === '*') lines.push(`    tcp dport != ${set(inbound.except)} redirect to :${o.inboundCapturePort}`);
    else lines.push(`    tcp dport ${set(inbound.ports)} redirect to :${o.inboundCapturePort}`);
    lines.push('  }');
  }
  if (o.outbound.length) {
    lines.push('  chain output {', '    type nat hook output priority -100; policy accept;');
    if (o.proxyUid !== undefined) lines.push(`    meta skuid ${o.proxyUid} return`);
    if (o.proxyGid !== undefined) lines.push(`    meta skgid ${o.proxyGid} return`);
    for (const d of o.outbound) lines.push(`    ${d.family === 4 ? 'ip' : 'ip6'} daddr ${d.cidr} tcp dport ${d.port} redirect to :${d.localPort}`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export function nftCleanScript(): string {
  return `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`;
}

/** One `iptables`/`ip6tables` run. Everything of ours is removed first, so applying twice leaves one copy. */
export interface IptCommand {
  tool: 'iptables' | 'ip6tables';
  args: string[];
  /** A removal that may find nothing to remove. */
  mayFail?: boolean;
}

export function iptablesCommands(o: CaptureOptions): IptCommand[] {
  const out: IptCommand[] = [...iptablesClean()];
  const inbound = inboundPorts(o);
  for (const tool of ['iptables', 'ip6tables'] as const) {
    const family = tool === 'iptables' ? 4 : 6;
    const outbound = o.outbound.filter((d) => d.family === family);
    if (inbound) {
      out.push({ tool, args: ['-t', 'nat', '-N', IPT_INBOUND] });
      if (inbound.ports === '*') {
        for (const p of inbound.except) out.push({ tool, args: ['-t', 'nat', '-A', IPT_INBOUND, '-p', 'tcp', '--dport', String(p), '-j', 'RETURN'] });
        out.push({ tool, args: ['-t', 'nat', '-A', IPT_INBOUND, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.inboundCapturePort)] });
      } else {
        out.push({ tool, args: ['-t', 'nat', '-A', IPT_INBOUND, '-p', 'tcp', '-m', 'multiport', '--dports', inbound.ports.join(','), '-j', 'REDIRECT', '--to-ports', String(o.inboundCapturePort)] });
      }
      out.push({ tool, args: ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '-j', IPT_INBOUND] });
    }
    if (outbound.length) {
      out.push({ tool, args: ['-t', 'nat', '-N', IPT_OUTPUT] });
      if (o.proxyUid !== undefined) out.push({ tool, args: ['-t', 'nat', '-A', IPT_OUTPUT, '-m', 'owner', '--uid-owner', String(o.proxyUid), '-j', 'RETURN'] });
      if (o.proxyGid !== undefined) out.push({ tool, args: ['-t', 'nat', '-A', IPT_OUTPUT, '-m', 'owner', '--gid-owner', String(o.proxyGid), '-j', 'RETURN'] });
      for (const d of outbound) {
        out.push({ tool, args: ['-t', 'nat', '-A', IPT_OUTPUT, '-d', d.cidr, '-p', 'tcp', '--dport', String(d.port), '-j', 'REDIRECT', '--to-ports', String(d.localPort)] });
      }
      out.push({ tool, args: ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-j', IPT_OUTPUT] });
    }
  }
  return out;
}

/** Removes every jump and chain of ours; each step may find nothing to remove. */
export function iptablesClean(): IptCommand[] {
  const out: IptCommand[] = [];
  for (const tool of ['iptables', 'ip6tables'] as const) {
    for (const [hook, chain] of [['PREROUTING', IPT_INBOUND], ['OUTPUT', IPT_OUTPUT]] as const) {
      out.push({ tool, args: ['-t', 'nat', '-D', hook, '-p', 'tcp', '-j', chain], mayFail: true });
      out.push({ tool, args: ['-t', 'nat', '-F', chain], mayFail: true });
      out.push({ tool, args: ['-t', 'nat', '-X', chain], mayFail: true });
    }
  }
  return out;
}
