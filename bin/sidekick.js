#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types) in a checkout,
// or the compiled dist/ in the container image, which ships no sources.
import { existsSync } from 'node:fs';
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `sidekick needs Node.js >= 22.12, this is ${process.version}. ` +
      'Run it through npm (npm start, npx sidekick), which uses the Node installed in node_modules.\n',
  );
  process.exit(1);
}
// Node's compile cache: the image ships one (NODE_COMPILE_CACHE, made by warm-compile-cache.js);
// a checkout keeps its own in the system temp directory, so later starts skip compiling modules.
module.enableCompileCache?.();
const fromSource = existsSync(new URL('../src/cli.ts', import.meta.url));
const { main } = await import(fromSource ? '../src/cli.ts' : '../dist/src/cli.js');
const code = await main(process.argv.slice(2));
// Flush stdout before exiting (a piped `sidekick schema` could otherwise be cut short).
process.stdout.write('', () => process.exit(code));
