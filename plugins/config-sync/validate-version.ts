// Checks a staged version before it is published: the built-in parse check for JSON/YAML
// and the user's command. Any failure throws ERR_SIDEKICK_SYNC_VALIDATION naming the file or command.
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { ValidateConfig } from './config-schema.ts';
import { ConfigSyncError } from './errors.ts';
import { runCommand } from './run-command.ts';

export async function validateVersion(dir: string, paths: readonly string[], config: ValidateConfig, signal: AbortSignal): Promise<void> {
  if (config.parse) {
    for (const path of paths) {
      const ext = extname(path).toLowerCase();
      if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') continue;
      const text = await readFile(join(dir, path), 'utf8');
      const problem = ext === '.json' ? jsonProblem(text) : await yamlProblem(text);
      if (problem) throw new ConfigSyncError('ERR_SIDEKICK_SYNC_VALIDATION', `${path} does not parse: ${problem}`);
    }
  }
  if (config.command) {
    const argv = config.command.map((a) => a.replaceAll('{dir}', dir));
    const result = await runCommand(argv, { timeout: config.timeout, signal, cwd: dir });
    // An agent stopping says nothing about the version: not a validation failure.
    if (result.aborted) throw signal.reason ?? new Error('aborted');
    // Too slow is not "refused": the same version is tried again after the backoff.
    if (result.timedOut) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_COMMAND_TIMEOUT', `validate.command ${JSON.stringify(config.command[0])} ${result.reason}`);
    }
    if (!result.ok) {
      throw new ConfigSyncError('ERR_SIDEKICK_SYNC_VALIDATION', `validate.command ${JSON.stringify(config.command[0])} rejected the version: ${result.reason}`);
    }
  }
}

function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

// yaml, loaded on first use, rather than the agent's js-yaml: it accepts the custom tags an
// app's own files may use (!include, !Ref), where js-yaml refuses them.
async function yamlProblem(text: string): Promise<string | undefined> {
  const { parseAllDocuments } = await import('yaml');
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length > 0) return doc.errors[0]!.message.split('\n')[0];
  }
  return undefined;
}
