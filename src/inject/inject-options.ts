// What the injection engine is told: defaults, overridden by CLI flags or the webhook's config,
// overridden per pod by `sidekick.dev/*` annotations. An invalid annotation is an error that
// names it, never a silent fallback to the default.
import { SidekickError } from '../errors.ts';
import { VERSION } from '../version.ts';

/** The one image default: CLI, webhook, examples and docs all name this one. */
export const DEFAULT_IMAGE = `ghcr.io/sidekick-dev/sidekick:${VERSION}`;

export interface CaptureOptions {
  /** The app's plain ports whose inbound traffic goes to Sidekick's https port; [] = the app's container ports. */
  inboundPorts: number[];
  /** UID (and GID) Sidekick runs as; its own traffic is never captured. */
  proxyUid: number;
  proxyGid?: number;
  localExcludePorts: number[];
  /** `CIDR:PORT=LOCALPORT`, outbound traffic sent to a local Sidekick listener. */
  outbound: string[];
}

export interface InjectOptions {
  image: string;
  /** ConfigMap holding `sidekick.yaml`; default `<app>-sidekick`. */
  configMap?: string;
  /** Sidekick's TLS listen port, exposed as the container port `https`; 0 for none. */
  httpsPort: number;
  /** Must match `admin.listen` in sidekick.yaml. */
  adminPort: number;
  /** Secret with tls.crt/tls.key mounted at /etc/sidekick-tls; default `<app>-tls` when httpsPort; '' for none. */
  tlsSecret?: string;
  /** Pod volumes shared with the app; without a path, mounted where the app mounts them. */
  mounts: Array<{ volume: string; path?: string }>;
  /** Does Sidekick signal the app (config-sync `reload.signal`)? undefined: not known. */
  signalApp?: boolean;
  /** Sidekick's UID; default: the app's when it must be signalled, else the image's (65532). */
  runAsUser?: number;
  /** Native sidecar (init container, restartPolicy: Always; Kubernetes >= 1.29) or a regular container. */
  nativeSidecar: boolean;
  resources: { cpuRequest: string; memoryRequest: string; memoryLimit: string };
  capture?: CaptureOptions;
}

export function defaultOptions(env: NodeJS.ProcessEnv = {}): InjectOptions {
  return {
    image: env.SIDEKICK_IMAGE || DEFAULT_IMAGE,
    httpsPort: 8443,
    adminPort: 9901,
    mounts: [],
    nativeSidecar: true,
    resources: { cpuRequest: '50m', memoryRequest: '96Mi', memoryLimit: '192Mi' },
  };
}

export class InjectError extends SidekickError<'ERR_SIDEKICK_INJECT_CLASH' | 'ERR_SIDEKICK_INJECT_ANNOTATION' | 'ERR_SIDEKICK_INJECT_INPUT'> {
  readonly what: 'CLASH' | 'ANNOTATION' | 'INPUT';
  constructor(what: InjectError['what'], message: string) {
    super(`ERR_SIDEKICK_INJECT_${what}`, message);
    this.what = what;
  }
}

export const ANNOTATION = {
  inject: 'sidekick.dev/inject',
  injected: 'sidekick.dev/injected',
  image: 'sidekick.dev/image',
  configMap: 'sidekick.dev/config-map',
  httpsPort: 'sidekick.dev/https-port',
  adminPort: 'sidekick.dev/admin-port',
  tlsSecret: 'sidekick.dev/tls-secret',
  mounts: 'sidekick.dev/mounts',
  signalApp: 'sidekick.dev/signal-app',
  runAsUser: 'sidekick.dev/run-as-user',
  nativeSidecar: 'sidekick.dev/native-sidecar',
  cpuRequest: 'sidekick.dev/cpu-request',
  memoryRequest: 'sidekick.dev/memory-request',
  memoryLimit: 'sidekick.dev/memory-limit',
  capture: 'sidekick.dev/capture',
  captureInboundPorts: 'sidekick.dev/capture-inbound-ports',
  captureOutbound: 'sidekick.dev/capture-outbound',
  proxyUid: 'sidekick.dev/proxy-uid',
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const OUTBOUND = /^[0-9a-fA-F.:]+\/\d{1,3}:\d{1,5}=\d{1,5}$/;

/** Parsers shared by flags and annotations: each returns the value or throws a message. */
export const parse = {
  port(s: string, allowZero = false): number {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) throw new Error(`"${s}": expected a port number${allowZero ? ' (0 for none)' : ''}`);
    return n;
  },
  ports(s: string): number[] {
    return s.split(',').map((p) => parse.port(p.trim()));
  },
  uid(s: string): number {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= 0 && n <= 2147483647)) throw new Error(`"${s}": expected a numeric UID`);
    return n;
  },
  bool(s: string): boolean {
    if (s === 'true') return true;
    if (s === 'false') return false;
    throw new Error(`"${s}": expected "true" or "false"`);
  },
  name(s: string): string {
    if (!DNS_SUBDOMAIN.test(s) || s.length > 253) throw new Error(`"${s}": expected a Kubernetes object name`);
    return s;
  },
  quantity(s: string): string {
    if (!QUANTITY.test(s)) throw new Error(`"${s}": expected a Kubernetes quantity like 50m or 128Mi`);
    return s;
  },
  mount(s: string): { volume: string; path?: string } {
    const m = /^([^:]+)(?::(.*))?$/.exec(s.trim());
    if (!m || !DNS_LABEL.test(m[1]!) || (m[2] !== undefined && !m[2].startsWith('/'))) {
      throw new Error(`"${s}": expected VOLUME or VOLUME:/absolute/path`);
    }
    return m[2] === undefined ? { volume: m[1]! } : { volume: m[1]!, path: m[2] };
  },
  outbound(s: string): string {
    if (!OUTBOUND.test(s)) throw new Error(`"${s}": expected CIDR:PORT=LOCALPORT, e.g. 10.0.0.0/8:5432=15432`);
    return s;
  },
};

/** Options for one pod: the base options with its annotations applied. */
export function withAnnotations(base: InjectOptions, annotations: Record<string, unknown> = {}): InjectOptions {
  const opts: InjectOptions = { ...base, mounts: [...base.mounts], resources: { ...base.resources } };
  const read = <T>(key: string, parser: (s: string) => T): T | undefined => {
    const raw = annotations[key];
    if (raw === undefined || raw === null) return undefined;
    try {
      return parser(String(raw));
    } catch (err) {
      throw new InjectError('ANNOTATION', `annotation ${key}: ${(err as Error).message}`);
    }
  };
  const set = <K extends keyof InjectOptions>(k: K, v: InjectOptions[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('image', read(ANNOTATION.image, (s) => (s.trim() ? s.trim() : fail('expected an image reference'))));
  set('configMap', read(ANNOTATION.configMap, parse.name));
  set('httpsPort', read(ANNOTATION.httpsPort, (s) => parse.port(s, true)));
  set('adminPort', read(ANNOTATION.adminPort, (s) => parse.port(s)));
  set('tlsSecret', read(ANNOTATION.tlsSecret, (s) => (s === '' ? '' : parse.name(s))));
  set('mounts', read(ANNOTATION.mounts, (s) => s.split(',').filter((m) => m.trim()).map(parse.mount)));
  set('signalApp', read(ANNOTATION.signalApp, parse.bool));
  set('runAsUser', read(ANNOTATION.runAsUser, parse.uid));
  set('nativeSidecar', read(ANNOTATION.nativeSidecar, parse.bool));
  const cpu = read(ANNOTATION.cpuRequest, parse.quantity);
  const memory = read(ANNOTATION.memoryRequest, parse.quantity);
  const limit = read(ANNOTATION.memoryLimit, parse.quantity);
  if (cpu) opts.resources.cpuRequest = cpu;
  if (memory) opts.resources.memoryRequest = memory;
  if (limit) opts.resources.memoryLimit = limit;
  const capture = read(ANNOTATION.capture, parse.bool);
  if (capture === false) delete opts.capture;
  else if (capture || opts.capture) {
    const c: CaptureOptions = opts.capture ? { ...opts.capture } : { inboundPorts: [], proxyUid: 1337, localExcludePorts: [], outbound: [] };
    c.inboundPorts = read(ANNOTATION.captureInboundPorts, parse.ports) ?? c.inboundPorts;
    c.outbound = read(ANNOTATION.captureOutbound, (s) => s.split(',').filter((o) => o.trim()).map((o) => parse.outbound(o.trim()))) ?? c.outbound;
    c.proxyUid = read(ANNOTATION.proxyUid, parse.uid) ?? c.proxyUid;
    opts.capture = c;
  }
  return opts;
}

function fail(message: string): never {
  throw new Error(message);
}
