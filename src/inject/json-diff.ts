// The RFC 6902 patch from a pod to its injected self. Not fast-json-patch's compare(): it diffs
// arrays index by index, so putting Sidekick first among the init containers becomes a replace
// of every field of the existing ones plus an add at the end (the test fixture deployment.yaml:
// 20 operations, against 6 here). Inserting into an array is one `add` per new element here,
// which is what the engine does, what a reader of the webhook's patch expects, and what
// `sidekick inject` can splice into YAML text.
export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export function escapePointer(segment: string | number): string {
  return String(segment).replaceAll('~', '~0').replaceAll('/', '~1');
}

export function diff(before: unknown, after: unknown, path = ''): PatchOp[] {
  if (deepEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const ops: PatchOp[] = [];
    for (const key of Object.keys(before)) {
      const p = `${path}/${escapePointer(key)}`;
      if (!(key in after) || after[key] === undefined) ops.push({ op: 'remove', path: p });
      else ops.push(...diff(before[key], after[key], p));
    }
    for (const key of Object.keys(after)) {
      if (!(key in before) && after[key] !== undefined) ops.push({ op: 'add', path: `${path}/${escapePointer(key)}`, value: after[key] });
    }
    return ops;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const inserted = insertions(before, after);
    if (inserted) return inserted.map((i) => ({ op: 'add' as const, path: `${path}/${i}`, value: after[i] }));
    if (before.length === after.length) return before.flatMap((b, i) => diff(b, after[i], `${path}/${i}`));
  }
  return [{ op: 'replace', path, value: after }];
}

/** Indexes of `after` that are new, when `after` is `before` with elements inserted; else undefined. */
function insertions(before: unknown[], after: unknown[]): number[] | undefined {
  if (after.length <= before.length) return undefined;
  const added: number[] = [];
  let b = 0;
  for (let a = 0; a < after.length; a++) {
    if (b < before.length && deepEqual(before[b], after[a])) b++;
    else added.push(a);
  }
  return b === before.length ? added : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}
