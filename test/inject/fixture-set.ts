// The fixtures that inject's golden files and the webhook's same-pod test share.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultOptions } from '../../src/inject/inject-options.ts';
import type { ManifestOptions } from '../../src/inject/inject-manifests.ts';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const FIXTURE_FILES = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();
export const GOLDEN_OPTIONS: ManifestOptions = { ...defaultOptions(), image: 'registry.example/sidekick:1.0', httpsForService: true, emitConfig: false };
