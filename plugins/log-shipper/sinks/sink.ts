// What every sink is built with. Its own module, so that a sink does not import create-sink.ts
// (which imports every sink) for a type.
import type { PluginContext } from '../../../src/plugin-api.ts';
import type { RecordEncoder } from '../record.ts';

export interface SinkDeps {
  ctx: PluginContext;
  encoder: RecordEncoder;
  labels: Record<string, string>;
}
