// PluginContext.keep: state handed from an instance to the one that replaces it on a reload.
import { describe, expect, it } from 'vitest';
import { InstanceMemory } from '../../src/host/instance-memory.ts';

describe('instance memory', () => {
  it('gives the replacing instance what the previous one kept under the same key', () => {
    const m = new InstanceMemory();
    const first = m.forLaunch('https');
    const a = first('rule:x', () => ({ n: 1 }));
    a.n = 7;
    m.prune('https');
    const second = m.forLaunch('https');
    expect(second('rule:x', () => ({ n: 1 })).n).toBe(7);
  });

  it('drops what the replacement did not ask for, and everything of a removed instance', () => {
    const m = new InstanceMemory();
    m.forLaunch('https')('rule:old', () => 'old');
    const second = m.forLaunch('https');
    second('rule:new', () => 'new');
    m.prune('https');
    expect(m.forLaunch('https')('rule:old', () => 'fresh')).toBe('fresh');
    m.forget('https');
    expect(m.forLaunch('https')('rule:new', () => 'fresh')).toBe('fresh');
  });

  it('keeps state apart per instance name', () => {
    const m = new InstanceMemory();
    m.forLaunch('a')('k', () => 'a');
    expect(m.forLaunch('b')('k', () => 'b')).toBe('b');
  });
});
