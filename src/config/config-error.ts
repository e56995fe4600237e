// A config problem a user can act on: which file, which key, what was expected.
import { SidekickError } from '../errors.ts';

export interface ConfigProblem {
  /** Dotted key path, e.g. `plugins.https.tls.cert`; empty for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends SidekickError {
  readonly file: string;
  readonly problems: ConfigProblem[];

  constructor(file: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  ${p.path || '(top level)'}: ${p.message}`);
    super('ERR_SIDEKICK_CONFIG_INVALID', `invalid config ${file}:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
