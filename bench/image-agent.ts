// The container image runs compiled JavaScript (no type stripping at load: ~30 MB less RSS
// than the .ts sources) with the Dockerfile's environment and node flags. Benchmarks measure
// that by default, since it is what ships: this builds it into bench/.image, laid out as in the
// image (bin/, dist/, package.json; node_modules found by walking up), and reads the runtime
// stage's ENV and ENTRYPOINT from the Dockerfile so the two cannot drift apart.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

export interface AgentBuild {
  /** The image's `bin/sidekick.js`, or the checkout's. */
  bin: string;
  /** Arguments for `node` before the agent's own: flags, then `bin`. */
  args: string[];
  /** Environment the agent runs with (the process's own plus the image's ENV). */
  env: NodeJS.ProcessEnv;
  label: string;
  /** The directory laid out as the agent's package (examples/ included): the checkout, or bench/.image. */
  root?: string;
}

/**
 * BENCH_NODE_FLAGS="--flag=x ..." adds node flags, for trying them; placed after the image's
 * own so that they win (V8 takes the last value given for a flag).
 */
const extraFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const withExtra = (label: string) => (extraFlags.length ? `${label}; BENCH_NODE_FLAGS ${extraFlags.join(' ')}` : label);

/** The checkout, run from its TypeScript sources (what `npm start` does). */
export function sourceAgent(): AgentBuild {
  const bin = join(ROOT, 'bin/sidekick.js');
  return { bin, args: [...extraFlags, bin], env: { ...process.env }, label: withExtra('TypeScript sources (npm start)'), root: ROOT };
}

/**
 * The compiled agent with the image's environment, built once per process. `root` is another
 * checkout of the project (an A/B against an older commit); by default this one.
 */
const built = new Map<string, AgentBuild>();
export function imageAgent(root = ROOT): AgentBuild {
  const done = built.get(root);
  if (done) return done;
  const OUT = join(root, 'bench/.image');
  rmSync(OUT, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(OUT, 'dist')], { encoding: 'utf8' });
  // tsc still emits JavaScript on type errors; a benchmark measures what runs, so only a missing build is fatal.
  if (tsc.error) throw tsc.error;
  mkdirSync(join(OUT, 'bin'), { recursive: true });
  cpSync(join(root, 'bin/sidekick.js'), join(OUT, 'bin/sidekick.js'));
  // As the image: `sidekick/plugin-api` resolves to the compiled kit (the Dockerfile's RUN step),
  // and the example config and plugin sit beside the agent, so that the example plugin does not
  // load the checkout's TypeScript kit (type stripping: ~15 MB of RSS, ~0.2 s on first use).
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (pkg.exports) pkg.exports['./plugin-api'] = './dist/src/plugin-api.js';
  writeFileSync(join(OUT, 'package.json'), JSON.stringify(pkg, null, 2));
  for (const path of ['examples/plugins', 'examples/local/sidekick.yaml', 'examples/local/remote-config']) {
    if (existsSync(join(root, path))) cpSync(join(root, path), join(OUT, path), { recursive: true });
  }
  const { env: imageEnv, nodeFlags, warmFlags } = dockerfileRuntime(root);
  if (warmFlags.join(' ') !== nodeFlags.join(' ')) {
    throw new Error(`Dockerfile: warm-compile-cache runs with "${warmFlags.join(' ')}" but the ENTRYPOINT with "${nodeFlags.join(' ')}"; V8 would not use the cache`);
  }
  cpSync(join(root, 'bin/warm-compile-cache.js'), join(OUT, 'bin/warm-compile-cache.js'));
  const cache = join(OUT, '.compile-cache');
  const warm = spawnSync(process.execPath, [...warmFlags, join(OUT, 'bin/warm-compile-cache.js')], { env: { ...process.env, NODE_COMPILE_CACHE: cache }, encoding: 'utf8' });
  if (warm.status !== 0) throw new Error(`warm-compile-cache failed: ${warm.stderr}`);
  const env: NodeJS.ProcessEnv = { ...process.env, ...Object.fromEntries(imageEnv), NODE_COMPILE_CACHE: cache };
  const bin = join(OUT, 'bin/sidekick.js');
  const settings = [...[...imageEnv].map(([k, v]) => `${k}=${v}`), ...nodeFlags].join(' ');
  const agent = { bin, args: [...nodeFlags, ...extraFlags, bin], env, label: withExtra(`compiled, as in the image: ${settings}, with its compile cache`), root: OUT };
  built.set(root, agent);
  return agent;
}

/**
 * The runtime stage's `ENV` (e.g. MALLOC_ARENA_MAX=2; paths like SIDEKICK_CONFIG left out), the
 * node flags of its exec-form `ENTRYPOINT ["node", <flags>..., "/app/bin/sidekick.js"]`, and those
 * of its `RUN ["node", <flags>..., "/app/bin/warm-compile-cache.js"]`.
 */
function dockerfileRuntime(root: string): { env: Map<string, string>; nodeFlags: string[]; warmFlags: string[] } {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lastStage = text.slice(text.lastIndexOf('\nFROM '));
  const env = new Map<string, string>();
  for (const line of lastStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, k, v] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) if (!v!.startsWith('/')) env.set(k!, v!);
  }
  const flags = (re: RegExp) => {
    const m = re.exec(lastStage);
    const argv: string[] = m ? JSON.parse(m[1]!) : [];
    return argv.slice(1).filter((a) => a.startsWith('--'));
  };
  return { env, nodeFlags: flags(/^ENTRYPOINT\s+(\[.*\])\s*$/m), warmFlags: flags(/^RUN\s+(\[.*warm-compile-cache\.js"\])\s*$/m) };
}
