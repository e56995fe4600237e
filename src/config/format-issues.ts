// zod issues turned into messages a user can act on. Values are never echoed
// (they may be secrets); only their type.
import type { z } from 'zod';
import type { ConfigProblem } from './config-error.ts';
import { formatPath } from './config-error.ts';

type Issue = z.core.$ZodIssue & { input?: unknown };
type AnySchema = z.core.$ZodType;

export function formatIssues(issues: readonly Issue[], schema: AnySchema, prefix: (string | number)[] = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === 'unrecognized_keys') {
      const allowed = keysAt(schema, issue.path as (string | number)[]);
      for (const key of issue.keys) {
        const hint = allowed.length ? `; allowed keys: ${allowed.join(', ')}${suggest(key, allowed)}` : '';
        problems.push({ path: formatPath([...path, key]), message: `unknown key${hint}` });
      }
      continue;
    }
    problems.push({ path: formatPath(path), message: describeIssue(issue) });
  }
  return problems;
}

function describeIssue(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `required key is missing (expected ${issue.expected})`;
      return `expected ${issue.expected}, got ${typeName(issue.input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'does not match any allowed form';
    default:
      return issue.message;
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
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

/** The object keys the schema allows at a path, for "allowed keys" hints. */
function keysAt(schema: AnySchema, path: (string | number)[]): string[] {
  let s: AnySchema | undefined = unwrap(schema);
  for (const part of path) {
    if (!s) return [];
    const def = s._zod.def as any;
    if (def.type === 'object') s = def.shape[part];
    else if (def.type === 'record') s = def.valueType;
    else if (def.type === 'array') s = def.element;
    else return [];
    s = s && unwrap(s);
  }
  const def = s?._zod.def as any;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = s._zod.def as any;
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else return s;
  }
}
