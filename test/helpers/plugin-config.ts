// A plugin's config parsed the way the agent parses it, with the messages a user would read.
import * as v from 'valibot';
import { formatIssues } from '../../src/config/format-issues.ts';

const lines = (schema: v.GenericSchema, issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]) =>
  formatIssues(issues, schema).map((p) => `${p.path}: ${p.message}`);

/** "key.path: message" for every problem, or [] when the config is valid. */
export function configProblems(schema: v.GenericSchema, input: unknown): string[] {
  const r = v.safeParse(schema, input);
  return r.success ? [] : lines(schema, r.issues);
}

/** The validated config (defaults filled in, units converted); throws with the problems otherwise. */
export function parseConfig<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (!r.success) throw new Error(`invalid config:\n  ${lines(schema, r.issues).join('\n  ')}`);
  return r.output;
}
