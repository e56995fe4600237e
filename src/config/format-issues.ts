// valibot issues turned into messages a user can act on. Values are never echoed
// (they may be secrets); only their type.
import * as v from 'valibot';
import type { ConfigProblem } from './config-error.ts';
import { formatPath } from './config-error.ts';

type Issue = v.BaseIssue<unknown>;
type AnySchema = v.GenericSchema | v.GenericSchemaAsync;

export function formatIssues(issues: readonly Issue[], schema: AnySchema, prefix: PropertyKey[] = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const at = (issue.path ?? []).map((item) => item.key as string | number);
    const path = formatPath([...prefix, ...at]);
    // A strict object reports each key it does not know, and each required key that is missing.
    if (issue.type === 'strict_object' && issue.expected === 'never') {
      const allowed = keysAt(schema, at.slice(0, -1));
      const hint = allowed.length ? `; allowed keys: ${allowed.join(', ')}${suggest(String(at.at(-1)), allowed)}` : '';
      problems.push({ path, message: `unknown key${hint}` });
    } else if (issue.input === undefined && issue.kind === 'schema') {
      problems.push({ path, message: `required key is missing (expected ${expectedAt(schema, at) ?? issue.expected})` });
    } else {
      problems.push({ path, message: describeIssue(issue) });
    }
  }
  return problems;
}

function describeIssue(issue: Issue): string {
  if (issue.kind === 'schema') {
    if (issue.type === 'picklist' || issue.type === 'variant' || issue.type === 'literal') return `expected one of ${oneOf(issue.expected)}`;
    if (issue.type === 'union') return 'does not match any allowed form';
    return `expected ${typeWord(issue.expected)}, got ${typeName(issue.input)}`;
  }
  const req = (issue as { requirement?: unknown }).requirement;
  const text = typeof issue.input === 'string';
  switch (issue.type) {
    case 'integer':
      return 'expected a whole number';
    case 'min_value':
      return `expected at least ${req}`;
    case 'max_value':
      return `expected at most ${req}`;
    case 'min_length':
      if (req === 1) return text ? 'must not be empty' : 'expected at least one item';
      return `expected at least ${req} ${text ? 'characters' : 'items'}`;
    case 'max_length':
      return `expected at most ${req} ${text ? 'characters' : 'items'}`;
    case 'url':
      return 'expected a URL like "https://host/path"';
  }
  // A message the schema wrote itself; valibot's own ("Invalid x: Received <value>") would echo the value.
  return issue.message.startsWith('Invalid ') ? issue.message.replace(/: (Expected|Received) .*$/s, '') : issue.message;
}

/** `("a" | "b")` as `"a", "b"`. */
const oneOf = (expected: string | null) => (expected ?? '').replace(/^\(|\)$/g, '').split(' | ').join(', ');

/** valibot's expected type words, in the config's terms. */
function typeWord(expected: string | null): string {
  if (expected === 'Object') return 'a mapping';
  if (expected === 'Array') return 'a list';
  return expected ?? 'something else';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

export function suggest(word: string, candidates: readonly string[]): string {
  let best = '';
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

// Optimal string alignment: a swapped pair of letters ("wrod") counts as one edit.
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

type Node = AnySchema & { entries?: Record<string, AnySchema>; wrapped?: AnySchema; value?: AnySchema; item?: AnySchema };

/** The schema at a key path, looking through optional and default wrappers. */
function schemaAt(schema: AnySchema, path: (string | number)[]): Node | undefined {
  let s: Node | undefined = unwrap(schema);
  for (const part of path) {
    if (!s) return undefined;
    if (s.entries) s = s.entries[part];
    else if (s.type === 'record') s = s.value;
    else if (s.type === 'array') s = s.item;
    else return undefined;
    s = s && unwrap(s);
  }
  return s;
}

/** The object keys the schema allows at a path, for "allowed keys" hints. */
function keysAt(schema: AnySchema, path: (string | number)[]): string[] {
  return Object.keys(schemaAt(schema, path)?.entries ?? {});
}

function expectedAt(schema: AnySchema, path: (string | number)[]): string | undefined {
  const s = schemaAt(schema, path);
  if (!s) return undefined;
  return s.type === 'picklist' || s.type === 'variant' ? `one of ${oneOf(s.expects)}` : typeWord(s.expects);
}

function unwrap(schema: AnySchema): Node {
  let s = schema as Node;
  while (s.wrapped) s = s.wrapped as Node;
  return s;
}
