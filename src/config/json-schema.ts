// JSON Schema of the whole file (core plus built-in plugins) for editors:
// `sidekick schema > sidekick.schema.json`, then point yaml-language-server at it.
import { z } from 'zod';
import { BUILTIN_PLUGINS } from '../plugins/builtin-plugins.ts';
import { resolvePlugin } from '../plugins/resolve-plugin.ts';
import { coreSchema } from './core-schema.ts';

type JsonSchema = Record<string, any>;

const OPTIONS = { io: 'input', unrepresentable: 'any' } as const;

export async function buildJsonSchema(): Promise<JsonSchema> {
  const schema = z.toJSONSchema(coreSchema, OPTIONS) as JsonSchema;
  schema.title = 'Sidekick configuration';
  const names = Object.keys(BUILTIN_PLUGINS);
  const variants: JsonSchema[] = [];
  for (const type of names) {
    const plugin = await resolvePlugin(type, process.cwd());
    const own = z.toJSONSchema(plugin.schema, OPTIONS) as JsonSchema;
    delete own.$schema;
    own.description = plugin.descriptor.description;
    own.properties = { type: { const: type, description: 'Plugin type' }, ...own.properties };
    own.required = ['type', ...(own.required ?? [])];
    variants.push(own);
  }
  variants.push({
    description: 'A third-party plugin: a path (./plugin.js, relative to this file) or an npm package name; its keys are its own',
    type: 'object',
    properties: { type: { type: 'string', not: { enum: names }, description: 'Path or npm package name of the plugin module' } },
    required: ['type'],
    additionalProperties: true,
  });
  const plugins = schema.properties.plugins;
  plugins.propertyNames = { pattern: '^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$' };
  plugins.additionalProperties = { anyOf: variants };
  return schema;
}
