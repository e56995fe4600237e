// Reads the lifecycle file the recorder fixture plugin writes.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export const RECORDER = resolve(import.meta.dirname, '../fixtures/plugins/recorder-plugin.js');

export async function events(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Polls until `check` passes or the bounded number of tries runs out. */
export async function eventually<T>(check: () => Promise<T> | T, tries = 200, everyMs = 50): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await check();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
  throw last;
}
