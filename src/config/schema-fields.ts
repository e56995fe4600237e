// Shorthands for config keys, so that every key has a description (it reaches
// `sidekick schema` and editors) and a schema file reads as a table of keys.
import * as v from 'valibot';

type Schema = v.GenericSchema;

/** A key with its description; required unless `fallback` is given. */
export function field<const S extends Schema>(schema: S, description: string): v.SchemaWithPipe<readonly [S, v.DescriptionAction<v.InferOutput<S>, string>]>;
/** A key with a default, parsed like a value the user wrote (so '10s' becomes 10000). */
export function field<const S extends Schema, const D extends v.Default<S, undefined>>(
  schema: S,
  description: string,
  fallback: D,
): v.OptionalSchema<v.SchemaWithPipe<readonly [S, v.DescriptionAction<v.InferOutput<S>, string>]>, D>;
export function field(schema: Schema, description: string, ...fallback: [unknown?]): any {
  const described = v.pipe(schema, v.description(description));
  return fallback.length ? v.optional(described, fallback[0] as never) : described;
}

/** A key that may be left out, with no default. */
export function optionalField<const S extends Schema>(schema: S, description: string) {
  return v.optional(field(schema, description));
}

/**
 * Checks across keys, run once the object itself is valid. `problem(path, message)` reports
 * at a key below the object, so the error names that key.
 */
export function crossCheck<T>(check: (value: T, problem: (path: readonly (string | number)[], message: string) => void) => void) {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    check(dataset.value, (path, message) =>
      addIssue({ message, path: path.map((key) => ({ type: 'object', origin: 'value', input: dataset.value as Record<string, unknown>, key, value: undefined })) as never }),
    );
  });
}

/** A string that must not be empty. */
export const nonEmpty = v.pipe(v.string(), v.minLength(1));

/** A whole number of at least `min` (and at most `max`). */
export function integer(min: number, max?: number) {
  return max === undefined
    ? v.pipe(v.number(), v.integer(), v.minValue(min))
    : v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
}
