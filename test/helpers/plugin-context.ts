// A real PluginContext for testing a plugin runtime without the whole agent:
// real logger (silent unless DEBUG_LOGS is set), real metrics registry, a temp data dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger } from '../../src/logger.ts';
import { MetricsRegistry } from '../../src/metrics.ts';
import type { PluginContext } from '../../src/plugin-api.ts';
import { InstanceMemory } from '../../src/host/instance-memory.ts';

export interface TestContext extends PluginContext {
  metricsRegistry: MetricsRegistry;
  failures: Error[];
  abort(): void;
  cleanup(): Promise<void>;
}

export async function createTestContext(name = 'test', type = 'test', baseDir?: string): Promise<TestContext> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sidekick-ctx-'));
  const log = createLogger(process.env.DEBUG_LOGS ? 'debug' : 'silent');
  const metricsRegistry = new MetricsRegistry({ defaultMetrics: false });
  const controller = new AbortController();
  const failures: Error[] = [];
  return {
    name,
    type,
    logger: log.child({ instance: name, plugin: type }),
    logFormat: 'json',
    metrics: metricsRegistry.forInstance(name),
    metricsRegistry,
    dataDir,
    resolvePath: (p) => resolve(baseDir ?? dataDir, p),
    signal: controller.signal,
    keep: new InstanceMemory().forLaunch(name),
    fail: (e) => failures.push(e),
    failures,
    abort: () => controller.abort(),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}
