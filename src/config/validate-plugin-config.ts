// One plugin instance's keys checked against its schema. valibot schemas (the built-in
// plugins', and third-party ones made with the agent's valibot) get the agent's own messages;
// any other Standard Schema reports its library's messages at the key path.
import * as v from 'valibot';
import type { ConfigSchema, StandardSchema } from '../plugin-api.ts';
import { type ConfigProblem, formatPath } from './config-error.ts';
import { formatIssues } from './format-issues.ts';

export type Validated<Config> = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

export function isConfigSchema(value: unknown): value is ConfigSchema {
  return typeof (value as StandardSchema | undefined)?.['~standard']?.validate === 'function';
}

export async function validatePluginConfig<Config>(schema: ConfigSchema<Config>, input: unknown, prefix: PropertyKey[] = []): Promise<Validated<Config>> {
  if (isValibot(schema)) {
    const result = await v.safeParseAsync(schema, input);
    return result.success ? { ok: true, config: result.output } : { ok: false, problems: formatIssues(result.issues, schema, prefix) };
  }
  const result = await (schema as StandardSchema<Config>)['~standard'].validate(input);
  if (!result.issues) return { ok: true, config: result.value };
  const problems = result.issues.map((issue) => ({
    path: formatPath([...prefix, ...(issue.path ?? []).map((p) => (typeof p === 'object' ? p.key : p))]),
    message: issue.message,
  }));
  return { ok: false, problems };
}

function isValibot(schema: ConfigSchema<any>): schema is v.GenericSchema | v.GenericSchemaAsync {
  return (schema as StandardSchema)['~standard'].vendor === 'valibot' && '~run' in schema;
}
