// The plugin's metric series, bound once (children kept, so a poll allocates nothing for them).
import type { PluginMetrics } from '../../src/plugin-api.ts';

export function createSyncMetrics(metrics: PluginMetrics) {
  const polls = metrics.counter({ name: 'sidekick_config_sync_polls_total', help: 'Polls of the source by result', labelNames: ['result'] });
  const changes = metrics.counter({ name: 'sidekick_config_sync_changes_total', help: 'Files found added, modified or deleted', labelNames: ['kind'] });
  const reloads = metrics.counter({ name: 'sidekick_config_sync_reloads_total', help: 'App reloads by result', labelNames: ['result'] });
  const errors = metrics.counter({ name: 'sidekick_config_sync_errors_total', help: 'Failed polls and refused versions by error code', labelNames: ['code'] });
  const errorChildren = new Map<string, { inc(v?: number): void }>();
  return {
    pollUnchanged: polls.labels({ result: 'unchanged' }),
    pollChanged: polls.labels({ result: 'changed' }),
    pollError: polls.labels({ result: 'error' }),
    added: changes.labels({ kind: 'added' }),
    modified: changes.labels({ kind: 'modified' }),
    deleted: changes.labels({ kind: 'deleted' }),
    publishes: metrics.counter({ name: 'sidekick_config_sync_publishes_total', help: 'Versions published into the target' }),
    validationFailures: metrics.counter({ name: 'sidekick_config_sync_validation_failures_total', help: 'Versions refused by validation' }),
    reloadOk: reloads.labels({ result: 'ok' }),
    reloadError: reloads.labels({ result: 'error' }),
    reloadSkipped: reloads.labels({ result: 'skipped' }),
    rollbacks: metrics.counter({ name: 'sidekick_config_sync_rollbacks_total', help: 'Rollbacks to the previous version after a failed health check' }),
    bytes: metrics.counter({ name: 'sidekick_config_sync_downloaded_bytes_total', help: 'Bytes downloaded from the source' }),
    sinceSuccess: metrics.gauge({ name: 'sidekick_config_sync_seconds_since_last_success', help: 'Seconds since the last successful poll (updated at every poll)' }),
    lastSuccess: metrics.gauge({ name: 'sidekick_config_sync_last_success_timestamp_seconds', help: 'Unix time of the last successful poll' }),
    version: metrics.gauge({ name: 'sidekick_config_sync_version', help: 'Generation of the published version (increments at every publish; 0 = none yet)' }),
    files: metrics.gauge({ name: 'sidekick_config_sync_files', help: 'Files in the published version' }),
    error(code: string) {
      let child = errorChildren.get(code);
      if (!child) errorChildren.set(code, (child = errors.labels({ code })));
      return child;
    },
  };
}

export type SyncMetrics = ReturnType<typeof createSyncMetrics>;
