// Read, interpolate and validate the whole config file, plugins included, so that
// `sidekick validate` and a reload see exactly the errors a start would.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as v from 'valibot';
import { loadAll } from 'js-yaml';
import type { PluginDescriptor } from '../plugin-api.ts';
import { resolvePlugin } from '../plugins/resolve-plugin.ts';
import { ConfigError, type ConfigProblem } from './config-error.ts';
import { INSTANCE_NAME, coreSchema, type CoreConfig } from './core-schema.ts';
import { formatIssues } from './format-issues.ts';
import { interpolateEnv } from './interpolate-env.ts';
import { validatePluginConfig } from './validate-plugin-config.ts';

export interface InstanceSpec {
  name: string;
  type: string;
  descriptor: PluginDescriptor;
  /** Validated plugin config (the plugin's own keys). */
  config: unknown;
  /** Equal fingerprints mean a reload leaves the running instance untouched. */
  fingerprint: string;
}

export interface LoadedConfig {
  file: string;
  dir: string;
  /** sha256 of the file's bytes: an unchanged file does nothing on reload. */
  hash: string;
  core: Omit<CoreConfig, 'plugins'>;
  instances: InstanceSpec[];
  /** Problems that do not stop this load: unset variables under `allowUnsetEnv`. */
  warnings: ConfigProblem[];
}

export interface ParseOptions {
  /**
   * For `sidekick validate` in CI, where the pod's variables do not exist: an unset `${VAR}` is a
   * warning, and the keys it feeds are not judged (their value is unknown). Never for `run`.
   */
  allowUnsetEnv?: boolean;
}

export async function readConfigFile(file: string): Promise<{ file: string; text: string; hash: string }> {
  const abs = resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[e.code ?? ''] ?? e.message;
    throw new ConfigError(abs, [{ path: '', message: `cannot read config file: ${why}` }]);
  }
  return { file: abs, text, hash: createHash('sha256').update(text).digest('hex') };
}

export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Promise<LoadedConfig> {
  const raw = await readConfigFile(file);
  return parseConfig(raw.file, raw.text, raw.hash, env, opts);
}

export async function parseConfig(
  file: string,
  text: string,
  hash: string,
  env: NodeJS.ProcessEnv,
  opts: ParseOptions = {},
): Promise<LoadedConfig> {
  let docs: unknown[];
  try {
    // js-yaml (one module) rather than yaml (72): this runs at every start (2.1 MB RSS and 50 ms
    // against 11.4 MB and 235 ms, bench/yaml-parser.bench.ts); config-sync checks app files
    // with it too. YAML 1.2 core schema, duplicate keys are errors; the message's first line
    // carries (line:column).
    docs = loadAll(text);
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `YAML: ${(err as Error).message.split('\n')[0]}` }]);
  }
  if (docs.length > 1) throw new ConfigError(file, [{ path: '', message: `YAML: expected one document, found ${docs.length}` }]);
  const data = docs[0] ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(file, [{ path: '', message: 'expected a mapping of keys (admin, log, plugins, ...)' }]);
  }

  // An unset variable is one problem among the others: keep validating, but do not judge the
  // keys it feeds (an empty stand-in would only add a second, misleading problem there).
  const unset: ConfigProblem[] = [];
  const interpolated = interpolateEnv(data, env, unset) as Record<string, unknown>;
  const problems: ConfigProblem[] = opts.allowUnsetEnv ? [] : [...unset];
  const unknownValue = (p: ConfigProblem) =>
    unset.some((u) => p.path === u.path || p.path.startsWith(`${u.path}.`) || p.path.startsWith(`${u.path}[`));
  const judged = (list: ConfigProblem[]) => list.filter((p) => !unknownValue(p));

  const parsed = v.safeParse(coreSchema, interpolated);
  // Core problems do not hide plugin problems: report the whole file at once.
  if (!parsed.success) problems.push(...judged(formatIssues(parsed.issues, coreSchema)));
  const { plugins, ...core } = parsed.success ? parsed.output : v.parse(coreSchema, {});
  const dir = dirname(file);
  core.dataDir = resolve(dir, core.dataDir);
  const rawPlugins = parsed.success ? plugins : pluginsOf(interpolated.plugins);

  const instances: InstanceSpec[] = [];
  for (const [name, instance] of Object.entries(rawPlugins)) {
    const at = `plugins.${name}`;
    if (!INSTANCE_NAME.test(name)) {
      problems.push({ path: at, message: 'instance names are lowercase letters, digits, "-" and "_" (at most 63), starting and ending with a letter or digit' });
      continue;
    }
    const { type, ...own } = instance;
    let plugin;
    try {
      plugin = await resolvePlugin(type, dir);
    } catch (err) {
      problems.push({ path: `${at}.type`, message: (err as Error).message });
      continue;
    }
    const result = await validatePluginConfig(plugin.schema, own, ['plugins', name]);
    if (!result.ok) {
      const left = judged(result.problems);
      problems.push(...left);
      // With unset variables allowed (validate only, never run) an instance whose only problems
      // are keys it could not judge is still listed, with its config unvalidated.
      if (left.length || !opts.allowUnsetEnv) continue;
    }
    instances.push({
      name,
      type,
      descriptor: plugin.descriptor,
      config: result.ok ? result.config : own,
      fingerprint: stableJson({ type, own, dataDir: core.dataDir, dir }),
    });
  }
  if (problems.length) throw new ConfigError(file, problems);
  return { file, dir, hash, core, instances, warnings: opts.allowUnsetEnv ? unset : [] };
}

function pluginsOf(value: unknown): Record<string, { type: string }> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string'),
  );
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
