// Builds the configured sink; each sink's module (and the AWS SDK for s3) loads only when used.
import type { SinkConfig } from '../config-schema.ts';
import type { Sink } from '../event.ts';
import type { SinkDeps } from './sink.ts';

export async function createSink(config: SinkConfig, deps: SinkDeps): Promise<Sink> {
  switch (config.type) {
    case 'stdout':
      return new (await import('./stdout-sink.ts')).StdoutSink(deps);
    case 'file':
      return (await import('./file-sink.ts')).FileSink.open(config, deps);
    case 'http':
      return new (await import('./http-sink.ts')).HttpSink(config, deps);
    case 'loki':
      return new (await import('./loki-sink.ts')).LokiSink(config, deps);
    case 'elasticsearch':
      return new (await import('./elasticsearch-sink.ts')).ElasticsearchSink(config, deps);
    case 'syslog':
      return new (await import('./syslog-sink.ts')).SyslogSink(config, deps);
    case 'forward':
      return new (await import('./forward-sink.ts')).ForwardSink(config, deps);
    case 's3':
      return new (await import('./s3-sink.ts')).S3Sink(config, deps);
  }
}
