// Checks a relative path from a source before it becomes a file in the target, with the
// rules of the Kubernetes AtomicWriter: nothing absolute, no `..` element, nothing that
// starts with `..` (those names are the publisher's own), bounded lengths.
import { ConfigSyncError } from './errors.ts';

const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4096;

/** Returns the normalised path ("a/b.json") or throws ERR_SIDEKICK_SYNC_UNSAFE_PATH naming it. */
export function checkRelativePath(path: string): string {
  const refuse = (why: string): never => {
    throw new ConfigSyncError('ERR_SIDEKICK_SYNC_UNSAFE_PATH', `refusing path ${JSON.stringify(path)}: ${why}`);
  };
  if (path.length === 0) refuse('empty');
  if (path.startsWith('/') || /^[a-zA-Z]:/.test(path)) refuse('absolute path');
  if (path.includes('\0')) refuse('NUL byte');
  if (path.includes('\\')) refuse('backslash (ambiguous separator)');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) refuse(`longer than ${MAX_PATH_BYTES} bytes`);
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '' || part === '.') refuse('empty or "." element');
    if (part === '..') refuse('".." element escapes the target');
    if (part.startsWith('..')) refuse('names starting with ".." are reserved for the publisher');
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) refuse(`element longer than ${MAX_NAME_BYTES} bytes`);
  }
  return parts.join('/');
}
