// Turns an instance's `type` into a plugin descriptor: a built-in name, a path
// (relative to the config file) or an npm package name.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
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
  const key = isPath(type) ? resolve(configDir, type) : type;
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
 * The ESM entry of a package installed in a node_modules above `fromDir`. import() can only
 * resolve from the agent's own location, and require.resolve ignores `import`-only exports.
 */
function findPackageEntry(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name);
    const pkg = readPackageJson(join(root, 'package.json'));
    if (pkg) {
      const target = exportTarget(pkg.exports) ?? pkg.module ?? pkg.main ?? 'index.js';
      return resolve(root, target);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function readPackageJson(file: string): Record<string, any> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The "." export for the conditions an ESM import in Node uses. */
function exportTarget(exports: unknown): string | undefined {
  if (typeof exports === 'string') return exports;
  if (!exports || typeof exports !== 'object' || Array.isArray(exports)) return undefined;
  const map = exports as Record<string, unknown>;
  if ('.' in map) return exportTarget(map['.']);
  for (const condition of ['import', 'node', 'default']) {
    if (condition in map) return exportTarget(map[condition]);
  }
  return undefined;
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
