// `sidekick inject [--file FILE] [--image IMAGE] [--config-map NAME] [--mount VOLUME:PATH]...`
// Reads manifests from FILE (or stdin), writes them with Sidekick added to stdout, and says
// on stderr what it did to each document, so `sidekick inject -f app.yaml | kubectl apply -f -`
// shows its work.
import { readFileSync } from 'node:fs';
import { VERSION } from '../version.ts';
import { type InjectOptions, InjectError, injectSidecar } from './inject-sidecar.ts';

export const INJECT_HELP = `Usage: sidekick inject [--file FILE] [--image IMAGE] [--config-map NAME]
                       [--mount VOLUME:PATH]... [--admin-port PORT]

Adds Sidekick as a native sidecar (Kubernetes >= 1.29) to every pod template in the
manifests (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List) and
prints them. Workloads that already have a "sidekick" container, or are annotated
sidekick.dev/inject: "false", are left as they are.

  --file, -f FILE      manifests to read; - or none reads stdin
  --image IMAGE        the Sidekick image (default $SIDEKICK_IMAGE, else sidekick:${VERSION})
  --config-map NAME    ConfigMap with a sidekick.yaml key (default <workload name>-sidekick)
  --mount VOLUME:PATH  also mount one of the pod's volumes into Sidekick (repeatable),
                       e.g. --mount shared-logs:/shared/logs
  --admin-port PORT    port of admin.listen in that sidekick.yaml (default 9901)
`;

type Parsed = InjectOptions & { file: string };

export function parseInjectArgs(argv: string[], env: NodeJS.ProcessEnv): Parsed | string {
  const opts: Parsed = { file: '-', image: env.SIDEKICK_IMAGE || `sidekick:${VERSION}`, mounts: [], adminPort: 9901 };
  for (let i = 0; i < argv.length; i++) {
    // --flag value, or --flag=value
    const eq = argv[i]!.startsWith('--') ? argv[i]!.indexOf('=') : -1;
    const flag = eq > 0 ? argv[i]!.slice(0, eq) : argv[i]!;
    const value = eq > 0 ? argv[i]!.slice(eq + 1) : argv[++i];
    if (value === undefined) return `${flag} needs a value`;
    if (flag === '--file' || flag === '-f') opts.file = value;
    else if (flag === '--image') opts.image = value;
    else if (flag === '--config-map') opts.configMap = value;
    else if (flag === '--mount') {
      const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?):(\/.*)$/.exec(value);
      if (!m) return `--mount ${value}: expected VOLUME:/absolute/path`;
      opts.mounts.push([m[1]!, m[3]!]);
    } else if (flag === '--admin-port') {
      opts.adminPort = Number(value);
      if (!Number.isInteger(opts.adminPort) || opts.adminPort < 1 || opts.adminPort > 65535) return `--admin-port ${value}: expected a port number`;
    } else return `unknown option ${flag}`;
  }
  return opts;
}

/** Returns the exit code: 0, or 1 when the input cannot be read or injected. */
export function runInject(opts: Parsed): number {
  const source = opts.file === '-' ? 'stdin' : opts.file;
  let text: string;
  try {
    text = readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
  } catch (err) {
    process.stderr.write(`sidekick inject: cannot read ${source}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const result = injectSidecar(text, source, opts);
    process.stdout.write(result.output);
    for (const label of result.injected) process.stderr.write(`injected: ${label}\n`);
    for (const why of result.skipped) process.stderr.write(`left as is: ${why}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    process.stderr.write(`sidekick inject: ${err.message}\n`);
    return 1;
  }
}
