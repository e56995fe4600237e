// JSON Schema of the whole file (core plus built-in plugins) for editors:
// `sidekick schema > sidekick.schema.json`, then point yaml-language-server at it.
import { toJsonSchema } from '@valibot/to-json-schema';
import { BUILTIN_PLUGINS } from '../plugins/builtin-plugins.ts';
import { resolvePlugin } from '../plugins/resolve-plugin.ts';
import { coreSchema } from './core-schema.ts';

type JsonSchema = Record<string, any>;

// The file's own form: transforms ('10s' -> 10000) are left out, so keys keep their input
// types, patterns and defaults as written.
const OPTIONS = { errorMode: 'ignore' } as const;

export async function buildJsonSchema(): Promise<JsonSchema> {
  const schema = toJsonSchema(coreSchema, OPTIONS) as JsonSchema;
  schema.title = 'Sidekick configuration';
  const names = Object.keys(BUILTIN_PLUGINS);
  const variants: JsonSchema[] = [];
  for (const type of names) {
    const plugin = await resolvePlugin(type, process.cwd());
    const own = toJsonSchema(plugin.schema as Parameters<typeof toJsonSchema>[0], OPTIONS) as JsonSchema;
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
