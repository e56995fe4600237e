// `sidekick inject`: manifests in (a file or stdin), manifests with Sidekick out, and on stderr
// what it did to each document and everything it could not do, so
// `sidekick inject -f app.yaml | kubectl apply -f -` shows its work.
import { readFileSync } from 'node:fs';
import { type CaptureOptions, DEFAULT_IMAGE, defaultOptions, InjectError, parse } from './inject-options.ts';
import { injectManifests, type ManifestOptions } from './inject-manifests.ts';

export const INJECT_HELP = `Usage: sidekick inject [-f FILE] [options]

Adds Sidekick to every pod template in the manifests (Pod, Deployment, StatefulSet, DaemonSet,
ReplicaSet, ReplicationController, Job, CronJob, and the items of a List) and prints them.
A pod annotated sidekick.dev/inject: "false", or already holding a "sidekick" container, is
left as it is; sidekick.dev/* annotations on a pod template override these flags.

  -f, --file FILE            manifests to read; - or none reads stdin
  --image IMAGE              default $SIDEKICK_IMAGE, else ${DEFAULT_IMAGE}
  --config-map NAME          ConfigMap with a sidekick.yaml key (default <app>-sidekick)
  --https-port PORT          Sidekick's TLS port, container port "https" (default 8443; 0: none)
  --admin-port PORT          admin.listen port in sidekick.yaml, probed (default 9901)
  --tls-secret NAME          Secret with tls.crt/tls.key at /etc/sidekick-tls (default <app>-tls;
                             "" for none)
  --mount VOLUME[:PATH]      share a pod volume with Sidekick, at PATH or where the app mounts it
                             (repeatable)
  --signal-app               Sidekick signals the app (config-sync reload.signal): share the
                             process namespace and run as the app's UID. Default: read from the
                             ConfigMap when it is in the input
  --run-as-user UID          Sidekick's UID (default: the app's when it signals it, else 65532)
  --no-native-sidecar        a regular container, for clusters older than 1.29
  --cpu-request Q --memory-request Q --memory-limit Q     (default 50m, 96Mi, 192Mi)
  --https-for-service        retarget a Service of the input from the app's plain port to "https"
  --emit-config              add a starter ConfigMap for pods whose ConfigMap is not in the input
  --capture                  add the sidekick-capture init container: the app's inbound traffic
                             goes to Sidekick's https port (needs NET_ADMIN for that container)
  --capture-inbound-ports P[,P]   ports to capture (default: the app's container ports)
  --proxy-uid UID            Sidekick's UID under capture, exempt from it (default 1337)
  --proxy-gid GID            --capture-exclude-ports P[,P]    --capture-outbound CIDR:PORT=LOCALPORT
                             (repeatable), passed on to sidekick capture

Warnings (a ConfigMap, Secret or Service it does not see; a UID it cannot tell) go to stderr.
Exit codes: 0 done, 1 input or clash error, 2 bad usage.
`;

export type InjectArgs = ManifestOptions & { file: string };

const BOOLEAN = new Set(['--signal-app', '--no-native-sidecar', '--https-for-service', '--emit-config', '--capture']);

export function parseInjectArgs(argv: string[], env: NodeJS.ProcessEnv): InjectArgs | string {
  const opts: InjectArgs = { ...defaultOptions(env), file: '-', httpsForService: false, emitConfig: false };
  const capture: CaptureOptions = { inboundPorts: [], proxyUid: 1337, localExcludePorts: [], outbound: [] };
  let wantCapture = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (BOOLEAN.has(flag)) {
      if (eq > 0) return `${flag} takes no value`;
      if (flag === '--signal-app') opts.signalApp = true;
      else if (flag === '--no-native-sidecar') opts.nativeSidecar = false;
      else if (flag === '--https-for-service') opts.httpsForService = true;
      else if (flag === '--emit-config') opts.emitConfig = true;
      else wantCapture = true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) return `${flag} needs a value`;
    try {
      switch (flag) {
        case '--file': case '-f': opts.file = value; break;
        case '--image': opts.image = value || DEFAULT_IMAGE; break;
        case '--config-map': opts.configMap = parse.name(value); break;
        case '--https-port': opts.httpsPort = parse.port(value, true); break;
        case '--admin-port': opts.adminPort = parse.port(value); break;
        case '--tls-secret': opts.tlsSecret = value === '' ? '' : parse.name(value); break;
        case '--mount': opts.mounts.push(parse.mount(value)); break;
        case '--run-as-user': opts.runAsUser = parse.uid(value); break;
        case '--cpu-request': opts.resources.cpuRequest = parse.quantity(value); break;
        case '--memory-request': opts.resources.memoryRequest = parse.quantity(value); break;
        case '--memory-limit': opts.resources.memoryLimit = parse.quantity(value); break;
        case '--capture-inbound-ports': capture.inboundPorts = parse.ports(value); wantCapture = true; break;
        case '--proxy-uid': capture.proxyUid = parse.uid(value); break;
        case '--proxy-gid': capture.proxyGid = parse.uid(value); break;
        case '--capture-exclude-ports': capture.localExcludePorts = parse.ports(value); break;
        case '--capture-outbound': capture.outbound.push(parse.outbound(value)); wantCapture = true; break;
        default: return `unknown option ${flag}`;
      }
    } catch (err) {
      return `${flag} ${(err as Error).message}`;
    }
  }
  if (wantCapture) opts.capture = capture;
  return opts;
}

/** Returns the exit code: 0, or 1 when the input cannot be read or injected. */
export function runInject(opts: InjectArgs): number {
  const source = opts.file === '-' ? 'stdin' : opts.file;
  let text: string;
  try {
    text = readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
  } catch (err) {
    process.stderr.write(`sidekick inject: cannot read ${source}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const result = injectManifests(text, source, opts);
    process.stdout.write(result.output);
    for (const label of result.injected) process.stderr.write(`injected: ${label}\n`);
    for (const why of result.skipped) process.stderr.write(`left as is: ${why}\n`);
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    process.stderr.write(`sidekick inject: ${err.message}\n`);
    return 1;
  }
}
