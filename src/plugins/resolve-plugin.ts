// Turns an instance's `type` into a plugin descriptor: a built-in name, a path
// (relative to the config file) or an npm package name.
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as v from 'valibot';
import { suggest } from '../config/format-issues.ts';
import { isConfigSchema } from '../config/validate-plugin-config.ts';
import { SidekickError } from '../errors.ts';
import type { ConfigSchema, PluginDescriptor } from '../plugin-api.ts';
import { BUILTIN_PLUGINS } from './builtin-plugins.ts';

export class PluginLoadError extends SidekickError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SIDEKICK_PLUGIN_LOAD', message, options);
  }
}

export interface ResolvedPlugin {
  descriptor: PluginDescriptor;
  schema: ConfigSchema;
  /** Where it came from: `builtin`, a file path or a package name. */
  source: string;
}

const cache = new Map<string, Promise<ResolvedPlugin>>();

export function resolvePlugin(type: string, configDir: string): Promise<ResolvedPlugin> {
  // A package name resolves from the config file's directory: the same name may be another package elsewhere.
  const key = isPath(type) ? resolve(configDir, type) : BUILTIN_PLUGINS[type] ? type : `${type}\0${configDir}`;
  let p = cache.get(key);
  if (!p) {
    p = load(type, key, configDir);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

function isPath(type: string): boolean {
  return type.startsWith('./') || type.startsWith('../') || isAbsolute(type);
}

async function load(type: string, key: string, configDir: string): Promise<ResolvedPlugin> {
  const builtin = BUILTIN_PLUGINS[type];
  if (builtin) return check((await builtin()).default, 'builtin', type);

  let url: string;
  if (isPath(type)) {
    url = pathToFileURL(key).href;
  } else if (/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/i.test(type)) {
    const entry = findPackageEntry(type, configDir);
    url = entry ? pathToFileURL(entry).href : type; // else: the agent's own node_modules
  } else {
    throw new PluginLoadError(notFound(type));
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && !isPath(type) && e.message.includes(`'${type}'`)) {
      throw new PluginLoadError(notFound(type));
    }
    throw new PluginLoadError(`cannot load plugin "${type}": ${e.message}`);
  }
  const descriptor = (mod.default ?? mod.plugin) as PluginDescriptor | undefined;
  return check(descriptor, isPath(type) ? key : type, type);
}

/**
 * The entry of package `name` as Node's own resolver finds it from `fromDir` (node_modules
 * walked up from there, `exports` and `main` read by Node), or undefined when it is not
 * installed there. `import()` cannot take a directory to resolve from (only
 * `import.meta.resolve` behind --experimental-import-meta-resolve can), so this is the
 * resolver of require(): its conditions are "require", "node", "module-sync" and "default",
 * and a package that exports "." only under "import" is refused with a message that says so.
 * What it finds is then loaded with import(), ES module or CommonJS alike.
 */
function findPackageEntry(name: string, fromDir: string): string | undefined {
  // The file name only places the resolver in `fromDir`; it need not exist.
  const require = createRequire(join(fromDir, 'sidekick-plugin-resolver.js'));
  try {
    return require.resolve(name);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.startsWith(`Cannot find module '${name}'`)) return undefined;
    const hint = e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ? ' (a plugin package must export "." under "default", "node" or "require", not only "import")' : '';
    throw new PluginLoadError(`cannot load plugin "${name}": ${e.message.split('\n')[0]}${hint}`);
  }
}

function notFound(type: string): string {
  const names = Object.keys(BUILTIN_PLUGINS);
  return (
    `unknown plugin type "${type}"${suggest(type, names)}; built-in types: ${names.join(', ') || '(none)'}; ` +
    'a third-party plugin is a path (./plugin.js, relative to the config file) or an installed npm package name'
  );
}

function check(d: PluginDescriptor | undefined, source: string, type: string): ResolvedPlugin {
  const ok =
    d && typeof d === 'object' && typeof d.type === 'string' && typeof d.description === 'string' &&
    typeof d.create === 'function' && (typeof d.configSchema === 'function' || typeof d.configSchema === 'object');
  if (!ok) {
    throw new PluginLoadError(
      `"${type}" does not export a plugin descriptor (a default or \`plugin\` export with type, description, configSchema and create)`,
    );
  }
  const schema = typeof d.configSchema === 'function' ? d.configSchema(v) : d.configSchema;
  if (!isConfigSchema(schema)) {
    throw new PluginLoadError(`"${type}": configSchema must be a function (v) => schema, given the agent's valibot, or a Standard Schema (valibot, zod, ArkType)`);
  }
  return { descriptor: d, schema, source };
}
