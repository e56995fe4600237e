// `npm run soak`: the long soak runs (20 kill cycles each) of log-shipper and config-sync in the
// real agent. `npm run soak -- --cycles 5 logs` runs fewer cycles or one soak; SOAK_SEED=<n>
// replays a run (the seed is printed first). Exits 1 if a line was lost or a bad version read.
import { runConfigSyncSoak } from './config-sync-soak.ts';
import { runLogShipperSoak } from './log-shipper-soak.ts';
import { mib, seedFromEnv } from './soak-kit.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--cycles');
const cycles = at >= 0 ? Number(args[at + 1]) : 20;
const only = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--cycles');
const want = (name: string) => only.length === 0 || only.includes(name);
const seed = seedFromEnv();
console.log(`soak seed ${seed} (replay: SOAK_SEED=${seed} npm run soak), ${cycles} cycles`);
const stamp = (line: string) => console.log(`  ${line}`);
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]! : NaN);
let failed = false;

if (want('logs')) {
  console.log('\n=== log-shipper: writer + every rotation, SIGKILL, faulty sink');
  const r = await runLogShipperSoak({ seed, cycles, files: 4, runMs: [2000, 8000], downMs: [100, 3000], rates: [0, 1000, 5000, 20_000], drainTimeoutMs: 180_000, log: stamp });
  const ready = r.cycles.map((c) => c.readyMs);
  const caught = r.cycles.flatMap((c) => (c.caughtUpMs === undefined ? [] : [c.caughtUpMs]));
  console.log(`lines written ${r.linesWritten} (${mib(r.bytesWritten)}) in ${(r.durationMs / 1000).toFixed(0)} s`);
  console.log(`LOST ${r.lost}${r.lost ? ` first: ${r.lostRanges.slice(0, 5).join(', ')}` : ''}`);
  console.log(`duplicates ${r.duplicates} (in flight at the kills, estimated: ${r.duplicateBound})`);
  console.log(`peak RSS ${mib(r.peakRssBytes)}`);
  console.log(`restart to ready: median ${pct(ready, 50)} ms, max ${Math.max(...ready)} ms`);
  console.log(`restart to every pre-kill line delivered: median ${pct(caught, 50)} ms, max ${Math.max(...caught)} ms (${caught.length}/${r.cycles.length} cycles before the next kill)`);
  console.log(`rotations ${JSON.stringify(r.rotations)} (${r.rotationFallbacks} fell back: content not shipped yet)`);
  console.log(`rotations while the agent was down: ${r.cycles.reduce((n, c) => n + c.rotationsWhileDown, 0)}`);
  console.log(`sink answers ${JSON.stringify(r.sinkAnswers)}; time per mode (s) ${JSON.stringify(Object.fromEntries(Object.entries(r.sinkModeMs).map(([k, v]) => [k, Math.round(v / 1000)])))}`);
  console.log(`per cycle (ready ms / delivered ms / in flight): ${r.cycles.map((c) => `${c.readyMs}/${c.caughtUpMs ?? '-'}/${c.inFlight}`).join(' ')}`);
  failed ||= r.lost > 0;
}

if (want('config')) {
  console.log('\n=== config-sync: S3 writer, reader of every version, SIGKILL');
  const r = await runConfigSyncSoak({ seed, cycles, runMs: [1000, 5000], downMs: [100, 2000], settleTimeoutMs: 60_000, log: stamp });
  const ready = r.cycles.map((c) => c.readyMs);
  const latest = r.cycles.flatMap((c) => (c.publishedLatestMs === undefined ? [] : [c.publishedLatestMs]));
  console.log(`bucket versions written ${r.versionsWritten}, versions read ${r.reads} in ${(r.durationMs / 1000).toFixed(0)} s`);
  console.log(`BAD READS (torn or mixed) ${r.badReads}${r.firstBad ? ` first: ${r.firstBad}` : ''}`);
  console.log(`converged on the last version: ${r.converged}; most version directories after a restart: ${r.maxVersionDirs}`);
  console.log(`peak RSS ${mib(r.peakRssBytes)}`);
  console.log(`restart to ready: median ${pct(ready, 50)} ms, max ${Math.max(...ready)} ms`);
  console.log(`restart to the version current at the kill published: median ${pct(latest, 50)} ms, max ${Math.max(...latest)} ms`);
  failed ||= r.badReads > 0 || !r.converged || r.maxVersionDirs > 3;
}
process.exit(failed ? 1 : 0);
