// `sidekick capture` flags, named as istio-iptables names the same things (the Kubernetes init
// container passes exactly these), parsed into what the rule writers need.
import { isIP } from 'node:net';

export interface OutboundCapture {
  /** Destination network, e.g. "10.0.0.0/8" (a bare address is a /32 or /128). */
  cidr: string;
  family: 4 | 6;
  port: number;
  /** Sidekick's egress listener (direction: outbound) for this destination. */
  localPort: number;
}

export interface CaptureOptions {
  /** App ports whose inbound TCP goes to Sidekick's TLS listener; '*' is every port but the excluded ones. */
  inboundPorts: number[] | '*';
  inboundCapturePort?: number;
  localExcludePorts: number[];
  proxyUid?: number;
  proxyGid?: number;
  outbound: OutboundCapture[];
  dryRun: boolean;
  clean: boolean;
  backend: 'auto' | 'nft' | 'iptables';
}

export const CAPTURE_HELP = `Usage: sidekick capture [options]

Writes firewall rules in the current network namespace (run once, as a Kubernetes init container
with NET_ADMIN) so that the pod's traffic goes through Sidekick:

  --inbound-ports 8080[,8081]   inbound TCP to these app ports, arriving from outside the pod, goes
                                to --inbound-capture-port ("*": every port but the excluded ones)
  --inbound-capture-port 8443   Sidekick's TLS listener (tls-terminator listen port)
  --local-exclude-ports 22,...  inbound ports never redirected
  --proxy-uid 1337              Sidekick's UID: its own connections are never redirected
  --proxy-gid 1337              Sidekick's GID: likewise
  --outbound CIDR:PORT=LOCAL    TCP from the app to CIDR:PORT goes to Sidekick's egress listener on
                                127.0.0.1:LOCAL (a tls-terminator with direction: outbound);
                                repeatable, one local port per destination
  --backend auto|nft|iptables   default auto: nft if present, else iptables
  --dry-run                     print the rules, change nothing
  --clean                       remove the rules
`;

function port(text: string | undefined, what: string): number | string {
  const n = Number(text);
  return text && /^\d+$/.test(text) && n >= 1 && n <= 65535 ? n : `${what}: expected a port 1-65535, got "${text ?? ''}"`;
}

function ports(text: string | undefined, what: string): number[] | string {
  if (!text) return `${what} needs a value`;
  const out: number[] = [];
  for (const p of text.split(',')) {
    const n = port(p.trim(), what);
    if (typeof n === 'string') return n;
    out.push(n);
  }
  return out;
}

function id(text: string | undefined, what: string): number | string {
  return text && /^\d+$/.test(text) ? Number(text) : `${what}: expected a numeric id, got "${text ?? ''}"`;
}

/** "10.0.0.0/8:443=15101" or "[fd00::/8]:443=15101". */
export function parseOutbound(text: string): OutboundCapture | string {
  const m = /^(?:\[([^\]]+)\]|([^:=]+)):(\d+)=(\d+)$/.exec(text);
  if (!m) return `--outbound: expected CIDR:PORT=LOCALPORT, e.g. 10.0.0.0/8:443=15101, got "${text}"`;
  const cidr = (m[1] ?? m[2])!;
  const [addr, bits] = cidr.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)))) {
    return `--outbound: "${cidr}" is not an IP address or CIDR`;
  }
  const p = port(m[3], '--outbound port');
  const local = port(m[4], '--outbound local port');
  if (typeof p === 'string') return p;
  if (typeof local === 'string') return local;
  return { cidr, family: family as 4 | 6, port: p, localPort: local };
}

export function parseCaptureArgs(argv: string[]): CaptureOptions | string {
  const o: CaptureOptions = { inboundPorts: [], localExcludePorts: [], outbound: [], dryRun: false, clean: false, backend: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let value: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => value ?? argv[++i];
    let problem: string | undefined;
    const take = <T>(r: T | string, set: (v: T) => void) => (typeof r === 'string' ? (problem = r) : set(r));
    switch (a) {
      case '--inbound-ports': {
        const v = next();
        if (v === '*') o.inboundPorts = '*';
        else take(ports(v, a), (p) => (o.inboundPorts = p));
        break;
      }
      case '--inbound-capture-port':
        take(port(next(), a), (p) => (o.inboundCapturePort = p));
        break;
      case '--local-exclude-ports':
        take(ports(next(), a), (p) => (o.localExcludePorts = p));
        break;
      case '--proxy-uid':
        take(id(next(), a), (n) => (o.proxyUid = n));
        break;
      case '--proxy-gid':
        take(id(next(), a), (n) => (o.proxyGid = n));
        break;
      case '--outbound': {
        const v = next();
        take(v ? parseOutbound(v) : '--outbound needs a value', (d) => o.outbound.push(d));
        break;
      }
      case '--backend': {
        const v = next();
        if (v === 'auto' || v === 'nft' || v === 'iptables') o.backend = v;
        else problem = `--backend: expected auto, nft or iptables, got "${v ?? ''}"`;
        break;
      }
      case '--dry-run':
        o.dryRun = true;
        break;
      case '--clean':
        o.clean = true;
        break;
      default:
        return `unknown option ${a}`;
    }
    if (problem) return problem;
  }
  if (o.clean) return o;
  const inbound = o.inboundPorts === '*' || o.inboundPorts.length > 0;
  if (inbound && o.inboundCapturePort === undefined) return '--inbound-ports needs --inbound-capture-port (Sidekick\'s TLS listener)';
  if (!inbound && o.outbound.length === 0) return 'nothing to capture: give --inbound-ports and/or --outbound';
  if (o.outbound.length && o.proxyUid === undefined && o.proxyGid === undefined) {
    return '--outbound needs --proxy-uid (or --proxy-gid): without it Sidekick\'s own connections to the destination would loop back to itself';
  }
  if (Array.isArray(o.inboundPorts) && o.inboundCapturePort !== undefined && o.inboundPorts.includes(o.inboundCapturePort)) {
    return '--inbound-ports must not include --inbound-capture-port';
  }
  return o;
}
