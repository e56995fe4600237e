// Preloaded into the agent by bench/tls-egress-allocations.ts (node --import): V8's sampling heap
// profiler, with objects already collected by minor and major GCs kept in the profile, from
// PROBE_START_MS after start for PROBE_MS; the profile is written to ALLOC_OUT. A probe only: the
// product never loads it.
import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';

const session = new inspector.Session();
session.connect();
setTimeout(() => {
  session.post('HeapProfiler.enable', () => {
    const opts = { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
    session.post('HeapProfiler.startSampling', opts, (err) => {
      if (err) return console.error('allocation probe: startSampling failed', err);
      setTimeout(() => session.post('HeapProfiler.stopSampling', (e, r) => {
        if (e) return console.error('allocation probe: stopSampling failed', e);
        writeFileSync(process.env.ALLOC_OUT, JSON.stringify(r.profile));
      }), Number(process.env.PROBE_MS ?? 6000));
    });
  });
}, Number(process.env.PROBE_START_MS ?? 5000));
