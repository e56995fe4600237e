// Checks a staged version before it is published: the built-in parse check for JSON/YAML
// and the user's command. Any failure throws ERR_SIDEKICK_SYNC_VALIDATION naming the file or command.
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { CORE_SCHEMA, Schema, defineMappingTag, defineScalarTag, defineSequenceTag, loadAll, mapTag, seqTag } from 'js-yaml';
import type { ValidateConfig } from './config-schema.ts';
import { ConfigSyncError } from './errors.ts';
import { runCommand } from './run-command.ts';

export async function validateVersion(dir: string, paths: readonly string[], config: ValidateConfig, signal: AbortSignal): Promise<void> {
  if (config.parse) {
    for (const path of paths) {
      const ext = extname(path).toLowerCase();
      if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') continue;
      const text = await readFile(join(dir, path), 'utf8');
      const problem = ext === '.json' ? jsonProblem(text) : yamlProblem(text);
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

// The agent's own YAML parser (js-yaml, already loaded for its config file). An app's own tags
// (!include, !Ref, !Sub) mean something only to the app, so any local tag is read as the plain
// scalar, sequence or mapping it is on; the rest is checked as for the agent's config: YAML 1.2
// syntax, duplicate keys, aliases.
const APP_SCHEMA = new Schema([
  ...CORE_SCHEMA.tags,
  defineScalarTag('!', { matchByTagPrefix: true, resolve: (source) => source, identify: () => false }),
  defineSequenceTag('!', { ...seqTag, matchByTagPrefix: true, identify: () => false }),
  defineMappingTag('!', { ...mapTag, matchByTagPrefix: true, identify: () => false }),
]);

function yamlProblem(text: string): string | undefined {
  try {
    loadAll(text, { schema: APP_SCHEMA });
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}
