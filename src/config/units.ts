// Durations ("500ms", "10s", "1h30m") and sizes ("64KiB", "16MiB") as config values.
// Plugins use `duration()` and `size()` so every file spells them the same way.
import * as v from 'valibot';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < s.length) {
    const m = DURATION_PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1, '': 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** Bytes, or undefined when the text is not a size. */
export function parseSize(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/** A duration string in the config, parsed to milliseconds. */
export function duration() {
  return v.pipe(
    v.string(),
    v.regex(/^(0|(\d+(\.\d+)?(ms|s|m|h|d))+)$/, (issue) => `expected a duration like "500ms", "10s" or "5m", got "${issue.input}"`),
    v.transform((text) => parseDuration(text)!),
  );
}

/** A size in the config ("64KiB", "16MiB", or a plain byte count), parsed to bytes. */
export function size() {
  return v.pipe(
    v.union([v.pipe(v.number(), v.integer(), v.minValue(0)), v.string()]),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const bytes = typeof dataset.value === 'number' ? dataset.value : parseSize(dataset.value);
      if (bytes === undefined) {
        addIssue({ message: `expected a size like "64KiB" or "16MiB", got "${dataset.value}"` });
        return NEVER;
      }
      return bytes;
    }),
  );
}
