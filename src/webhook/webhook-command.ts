// `sidekick webhook [...]` and `sidekick webhook certs [...]`.
import { parseListenAddress, type ListenAddress } from '../config/listen-address.ts';
import { createLogger, LOG_LEVELS } from '../logger.ts';
import { parseInjectArgs } from '../inject/inject-command.ts';
import { defaultWebhookOptions, type WebhookOptions } from './admission-review.ts';
import { makeCerts } from './make-certs.ts';
import { WebhookServer } from './webhook-server.ts';

export const WEBHOOK_HELP = `Usage: sidekick webhook [options] [injection options]
       sidekick webhook certs --service NAME --namespace NS [--out DIR] [--days N]

A mutating admission webhook (admission.k8s.io/v1) that adds Sidekick to Pods at creation, with
the same engine, options and sidekick.dev/* annotations as sidekick inject. POST /mutate;
GET /healthz /readyz /metrics on the same HTTPS port.

  --listen ADDR              default 0.0.0.0:443 (see the Kubernetes docs for why 443)
  --cert FILE --key FILE     serving certificate and key (default /etc/sidekick-webhook/tls.crt,
                             tls.key); reloaded when they change, e.g. a Secret update
  --exclude-namespaces NS[,NS]   never injected (default kube-system,kube-public,kube-node-lease)
  --shutdown-delay SECONDS   /readyz fails this long before the listener closes (default 5)
  --log-level LEVEL          default info
  injection options          those of sidekick inject, but -f, --emit-config and
                             --https-for-service (see: sidekick inject --help)

certs: makes ca.crt, tls.crt and tls.key (in --out, default ./sidekick-webhook-certs) for the
Service NAME in NS, valid --days (default 365; the CA twice that), and prints the CA as the
base64 caBundle of the MutatingWebhookConfiguration. Needs the openssl command.
`;

export interface WebhookArgs {
  listen: ListenAddress;
  cert: string;
  key: string;
  shutdownDelayMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  webhook: WebhookOptions;
}

export function parseWebhookArgs(argv: string[], env: NodeJS.ProcessEnv): WebhookArgs | string {
  const defaults = defaultWebhookOptions(env);
  const args: WebhookArgs = { listen: { host: '0.0.0.0', port: 443 }, cert: '/etc/sidekick-webhook/tls.crt', key: '/etc/sidekick-webhook/tls.key', shutdownDelayMs: 5000, logLevel: 'info', webhook: defaults };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!['--listen', '--cert', '--key', '--exclude-namespaces', '--shutdown-delay', '--log-level'].includes(flag)) {
      if (['-f', '--file', '--emit-config', '--https-for-service'].includes(flag)) return `${flag} is an option of sidekick inject only`;
      rest.push(arg);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) return `${flag} needs a value`;
    if (flag === '--listen') {
      const listen = parseListenAddress(value);
      if (!listen) return `--listen "${value}": expected host:port`;
      args.listen = listen;
    } else if (flag === '--cert') args.cert = value;
    else if (flag === '--key') args.key = value;
    else if (flag === '--exclude-namespaces') args.webhook.excludeNamespaces = value.split(',').map((s) => s.trim()).filter(Boolean);
    else if (flag === '--shutdown-delay') {
      const s = Number(value);
      if (!(s >= 0 && s <= 300)) return `--shutdown-delay "${value}": expected seconds, 0 to 300`;
      args.shutdownDelayMs = s * 1000;
    } else {
      if (!(LOG_LEVELS as readonly string[]).includes(value)) return `--log-level "${value}": expected one of ${LOG_LEVELS.join(', ')}`;
      args.logLevel = value as WebhookArgs['logLevel'];
    }
  }
  const inject = parseInjectArgs(rest, env);
  if (typeof inject === 'string') return inject;
  const { file: _file, httpsForService: _h, emitConfig: _e, ...engine } = inject;
  args.webhook.inject = engine;
  return args;
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runWebhook(args: WebhookArgs): Promise<number> {
  const { logger } = createLogger(args.logLevel);
  let server: WebhookServer;
  try {
    server = new WebhookServer({ listen: args.listen, tls: { cert: args.cert, key: args.key }, webhook: args.webhook, logger, shutdownDelayMs: args.shutdownDelayMs, drainMs: 10_000 });
    const addr = await server.listen();
    logger.info({ address: addr.address, port: addr.port, image: args.webhook.inject.image }, 'sidekick webhook listening');
  } catch (err) {
    process.stderr.write(`sidekick webhook: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal, exiting at once');
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      }
      void server.shutdown().then(() => resolve(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export function runCerts(argv: string[]): number {
  const opts = { service: '', namespace: '', out: 'sidekick-webhook-certs', days: 365 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) return usage(`${flag} needs a value`);
    if (flag === '--service') opts.service = value;
    else if (flag === '--namespace' || flag === '-n') opts.namespace = value;
    else if (flag === '--out') opts.out = value;
    else if (flag === '--days') {
      opts.days = Number(value);
      if (!(Number.isInteger(opts.days) && opts.days > 0)) return usage(`--days "${value}": expected a number of days`);
    } else return usage(`unknown option ${flag}`);
  }
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (!dns.test(opts.service) || !dns.test(opts.namespace)) return usage('--service and --namespace are required, as Kubernetes names');
  try {
    const made = makeCerts(opts);
    process.stderr.write(`made ${made.files.caCert}, ${made.files.cert}, ${made.files.key} for ${made.dnsNames.join(', ')}\n` +
      `load them with:\n  kubectl -n ${opts.namespace} create secret tls ${opts.service}-tls --cert ${made.files.cert} --key ${made.files.key}\n` +
      `and put the caBundle below (stdout) into the MutatingWebhookConfiguration's clientConfig.caBundle\n`);
    process.stdout.write(`${made.caBundle}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`sidekick webhook certs: ${(err as Error).message}\n`);
    return 1;
  }
}

function usage(message: string): number {
  process.stderr.write(`sidekick webhook certs: ${message}\n\n${WEBHOOK_HELP}`);
  return 2;
}
