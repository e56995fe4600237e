// `sidekick run | validate | schema | inject | version | --help`.
// Exit codes: 0 success, 1 could not start or run, 2 bad usage, 78 invalid config (EX_CONFIG).
import { Agent } from './agent.ts';
import { ConfigError } from './config/config-error.ts';
import { loadConfig } from './config/load-config.ts';
import { VERSION } from './version.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

const HELP = `sidekick ${VERSION}: a sidecar agent for TLS termination, config sync and log shipping

Usage:
  sidekick run [--config FILE]       run the agent
  sidekick validate [--config FILE] [--env-file FILE] [--allow-unset-env]
                                     check a config file: every problem at once (exit 0, or 78);
                                     --env-file supplies variables (the environment wins),
                                     --allow-unset-env reports unset variables as warnings
  sidekick schema                    print the JSON Schema of the config file
  sidekick inject [-f FILE] [...]    add Sidekick to Kubernetes manifests (see: sidekick inject --help)
  sidekick version                   print the version
  sidekick --help                    this text

The config file is --config FILE, else $SIDEKICK_CONFIG, else ./sidekick.yaml.
Signals: SIGHUP reloads the config; SIGTERM/SIGINT drain and exit (a second one exits at once).
Exit codes: 0 ok, 1 could not start, 2 bad usage, 78 invalid config.
`;

interface Args {
  command: string;
  config: string;
  envFile?: string;
  allowUnsetEnv?: boolean;
  /** The arguments after `inject`, which has options of its own. */
  rest?: string[];
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args | string {
  let command: string | undefined;
  let config: string | undefined;
  let envFile: string | undefined;
  let allowUnsetEnv = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === 'inject' && !command) return { command: a, config: '', rest: argv.slice(i + 1) };
    if (a === '--help' || a === '-h') return { command: 'help', config: '' };
    if (a === '--version' || a === '-v') return { command: 'version', config: '' };
    if (a === '--config' || a === '-c') {
      config = argv[++i];
      if (!config) return `${a} needs a file`;
    } else if (a.startsWith('--config=')) config = a.slice('--config='.length);
    else if (a === '--env-file') {
      envFile = argv[++i];
      if (!envFile) return `${a} needs a file`;
    } else if (a.startsWith('--env-file=')) envFile = a.slice('--env-file='.length);
    else if (a === '--allow-unset-env') allowUnsetEnv = true;
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else if (!command) command = a;
    else return `unexpected argument ${a}`;
  }
  if ((envFile !== undefined || allowUnsetEnv) && command !== 'validate') return '--env-file and --allow-unset-env are options of validate';
  return { command: command ?? 'help', config: config ?? (env.SIDEKICK_CONFIG || 'sidekick.yaml'), envFile, allowUnsetEnv };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parseArgs(argv, env);
  if (typeof args === 'string') {
    process.stderr.write(`sidekick: ${args}\n\n${HELP}`);
    return EXIT.usage;
  }
  switch (args.command) {
    case 'help':
      process.stdout.write(HELP);
      return EXIT.ok;
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return EXIT.ok;
    case 'schema': {
      // Loaded only here: the JSON Schema converter is no part of running the agent.
      const { buildJsonSchema } = await import('./config/json-schema.ts');
      process.stdout.write(`${JSON.stringify(await buildJsonSchema(), null, 2)}\n`);
      return EXIT.ok;
    }
    case 'validate':
      return validate(args, env);
    case 'inject':
      return inject(args.rest ?? [], env);
    case 'run':
      return run(args.config, env);
    default:
      process.stderr.write(`sidekick: unknown command "${args.command}"\n\n${HELP}`);
      return EXIT.usage;
  }
}

async function validate(args: Args, env: NodeJS.ProcessEnv): Promise<number> {
  let withFile = env;
  if (args.envFile) {
    // Node's own .env parser, the format of `node --env-file`; as there, the environment wins.
    const { readFile } = await import('node:fs/promises');
    const { parseEnv } = await import('node:util');
    try {
      withFile = { ...parseEnv(await readFile(args.envFile, 'utf8')), ...env };
    } catch (err) {
      process.stderr.write(`sidekick: cannot read --env-file ${args.envFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return EXIT.usage;
    }
  }
  try {
    const config = await loadConfig(args.config, withFile, { allowUnsetEnv: args.allowUnsetEnv });
    for (const w of config.warnings) process.stderr.write(`sidekick: warning: ${w.path || '(top level)'}: ${w.message}\n`);
    const list = config.instances.map((i) => `${i.name} (${i.type})`).join(', ') || 'none';
    const warned = config.warnings.length ? ` (${config.warnings.length} warning${config.warnings.length > 1 ? 's' : ''})` : '';
    process.stdout.write(`${config.file}: valid${warned}; plugins: ${list}\n`);
    return EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}

async function inject(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { INJECT_HELP, parseInjectArgs, runInject } = await import('./inject/inject-command.ts');
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(INJECT_HELP);
    return EXIT.ok;
  }
  const opts = parseInjectArgs(argv, env);
  if (typeof opts === 'string') {
    process.stderr.write(`sidekick inject: ${opts}\n\n${INJECT_HELP}`);
    return EXIT.usage;
  }
  return runInject(opts);
}

function reportError(err: unknown): number {
  process.stderr.write(`sidekick: ${(err as Error).message}\n`);
  return err instanceof ConfigError ? EXIT.config : EXIT.failed;
}

async function run(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  let agent: Agent;
  try {
    agent = await Agent.load(file, { env });
  } catch (err) {
    return reportError(err);
  }
  // Installed before start so a SIGTERM during start-up still drains what started.
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`sidekick: second ${signal}, exiting at once\n`);
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    void agent.shutdown(signal).then(() => process.exit(EXIT.ok));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => void agent.reload('SIGHUP', true));
  // A plugin's forgotten promise must not take the other plugins down: log it loudly and go on.
  // A synchronous throw escaping to the event loop may have left state half-changed: exit and
  // let the kubelet restart the container (the default, but logged as JSON first).
  process.on('unhandledRejection', (reason) => agent.reportUnhandled(reason));
  process.on('uncaughtException', (err) => {
    agent.reportUnhandled(err, true);
    process.exit(EXIT.failed);
  });
  try {
    await agent.start();
  } catch (err) {
    // A signal during start-up: the shutdown under way drains what started and exits 0.
    if (signals > 0) return new Promise<number>(() => {});
    return reportError(err);
  }
  return new Promise<number>(() => {}); // runs until a signal
}
