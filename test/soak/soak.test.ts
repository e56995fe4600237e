// The short soak (3 SIGKILL cycles each) of the real agent; `npm run soak` runs 20. A failure
// prints the seed: SOAK_SEED=<seed> replays the same kill moments, rotations and sink faults.
import { describe, expect, it } from 'vitest';
import { isBucketState, runConfigSyncSoak } from '../../bench/soak/config-sync-soak.ts';
import { runLogShipperSoak } from '../../bench/soak/log-shipper-soak.ts';
import { seedFromEnv } from '../../bench/soak/soak-kit.ts';

const seed = seedFromEnv();
const log = (line: string) => console.log(`[soak seed ${seed}] ${line}`);

describe('soak: the real agent killed with SIGKILL at random moments', () => {
  it('log-shipper loses no line across kills, every rotation and a faulty sink', { timeout: 240_000 }, async () => {
    const r = await runLogShipperSoak({ seed, cycles: 3, files: 3, runMs: [1000, 2500], downMs: [100, 800], rates: [0, 500, 2000, 5000], drainTimeoutMs: 90_000, log });
    log(`lines ${r.linesWritten}, lost ${r.lost}, duplicates ${r.duplicates} (in flight at the kills: ${r.duplicateBound}), peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
    log(`per cycle ready ms / delivered ms: ${r.cycles.map((c) => `${c.readyMs}/${c.caughtUpMs ?? '-'}`).join(' ')}; rotations ${JSON.stringify(r.rotations)}`);
    expect(r.linesWritten).toBeGreaterThan(0);
    expect(r.cycles).toHaveLength(3);
    expect({ lost: r.lost, lostRanges: r.lostRanges, seed }).toEqual({ lost: 0, lostRanges: [], seed });
  });

  it('config-sync serves only whole, unmixed versions across kills while S3 changes', { timeout: 240_000 }, async () => {
    const r = await runConfigSyncSoak({ seed, cycles: 3, runMs: [500, 2000], downMs: [100, 800], settleTimeoutMs: 60_000, log });
    log(`bucket versions ${r.versionsWritten}, reads ${r.reads}, bad ${r.badReads}, version dirs ${r.maxVersionDirs}, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
    expect(r.reads).toBeGreaterThan(0);
    expect({ badReads: r.badReads, firstBad: r.firstBad, converged: r.converged, seed }).toEqual({ badReads: 0, firstBad: undefined, converged: true, seed });
    // Current, previous and at most one being staged: no debris piling up across restarts.
    expect(r.maxVersionDirs).toBeLessThanOrEqual(3);
  });

  it('the reader check itself tells a bucket state from a mix', () => {
    expect(isBucketState([5, 5, 5, 5])).toBe(true);
    expect(isBucketState([6, 6, 5, 5])).toBe(true);
    expect(isBucketState([5, 6, 6, 6])).toBe(false);
    expect(isBucketState([6, 5, 4, 4])).toBe(false);
    expect(isBucketState([6, 6, 4, 4])).toBe(false);
  });
});
