// The image starts node with V8's compilers off; the agent turns them on when it sees load.
import { describe, expect, it } from 'vitest';
import { OptimizerOnLoad } from '../src/optimizer-on-load.ts';
import { startAgent, tempDir } from './helpers/agent-process.ts';

const IMAGE_FLAGS = ['--no-sparkplug', '--no-turbofan', '--no-freeze-flags-after-init'];

describe('V8 compilers on load', () => {
  it('leaves node alone unless started in that mode', () => {
    expect(new OptimizerOnLoad([]).waiting).toBe(false);
    // --no-turbofan alone is a deliberate choice, and frozen flags cannot be changed.
    expect(new OptimizerOnLoad(['--no-turbofan']).waiting).toBe(false);
    expect(new OptimizerOnLoad(IMAGE_FLAGS).waiting).toBe(true);
  });

  it('keeps TurboFan off while the agent idles, and turns it on under sustained load', async () => {
    const dir = await tempDir();
    // --trace-opt: V8 reports each optimised function on stdout, next to the agent's log lines.
    const agent = await startAgent(dir.path, `admin:\n  listen: 127.0.0.1:0\ndataDir: ${dir.path}/data\n`, { nodeArgs: [...IMAGE_FLAGS, '--trace-opt'] });
    const turnedOn = () => agent.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('load seen'));
    const optimised = () => agent.logs.filter((l) => typeof l.raw === 'string' && /completed optimizing .*TURBOFAN/.test(l.raw)).length;
    try {
      await new Promise((r) => setTimeout(r, 2000)); // four idle ticks
      expect(turnedOn()).toBe(false);
      expect(optimised()).toBe(0);
      // Load: /metrics back to back, until TurboFan has optimised something (bounded).
      const deadline = Date.now() + 20_000;
      while ((!turnedOn() || optimised() === 0) && Date.now() < deadline) await (await fetch(`${agent.adminUrl}/metrics`)).text();
      expect(turnedOn()).toBe(true);
      expect(optimised()).toBeGreaterThan(0);
    } finally {
      await agent.stop();
      await dir.cleanup();
    }
  }, 40_000);
});
