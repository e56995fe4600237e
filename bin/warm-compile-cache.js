#!/usr/bin/env node
// Fills Node's compile cache (the NODE_COMPILE_CACHE directory) with every module the agent can
// load, so that a container, which starts on a fresh read-only root filesystem each time, skips
// compiling them (start to ready ~10% sooner). The image build runs it once, with the same node
// flags as the ENTRYPOINT: V8 keeps one cache per set of flags.
// Usage: NODE_COMPILE_CACHE=<dir> node [flags] bin/warm-compile-cache.js [dist dir, default ../dist]
import { readdir } from 'node:fs/promises';
import module from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

if (!module.getCompileCacheDir?.()) {
  process.stderr.write('warm-compile-cache: set NODE_COMPILE_CACHE to the cache directory\n');
  process.exit(2);
}
const dist = resolve(process.argv[2] ?? new URL('../dist', import.meta.url).pathname);
const files = (await readdir(dist, { recursive: true })).filter((f) => f.endsWith('.js')).sort();
// Importing a module compiles it and what it imports (the AWS SDK included); none of them
// starts work at import time.
for (const file of files) await import(pathToFileURL(resolve(dist, file)).href);
module.flushCompileCache();
process.stdout.write(`warm-compile-cache: ${files.length} modules and their dependencies in ${module.getCompileCacheDir()}\n`);
