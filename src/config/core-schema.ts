// The agent's own keys. Plugin keys are validated by each plugin's schema.
import * as v from 'valibot';
import { LOG_FORMATS, LOG_LEVELS } from '../logger.ts';
import { listenAddress } from './listen-address.ts';
import { field } from './schema-fields.ts';
import { duration } from './units.ts';

export const INSTANCE_NAME = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;

export const instanceSchema = field(
  v.looseObject({
    type: field(
      v.pipe(v.string(), v.minLength(1)),
      'A built-in plugin type, a path to a plugin module (./my-plugin.js, relative to this file) or an npm package name',
    ),
  }),
  "One plugin instance: `type` plus that plugin's own keys",
);

export const coreSchema = v.strictObject({
  admin: field(
    v.strictObject({
      listen: field(listenAddress(), 'Address of the admin endpoint: GET /healthz /readyz /metrics /status. Port 0 picks a free port.', '0.0.0.0:9901'),
    }),
    'Admin HTTP endpoint for probes, metrics and status',
    {},
  ),
  log: field(
    v.strictObject({
      level: field(v.picklist(LOG_LEVELS), 'Lowest level logged', 'info'),
      format: field(
        v.picklist(LOG_FORMATS),
        'json: one JSON object per line on stdout, for a collector (whatever stdout is); pretty: coloured one-line-per-event text for a terminal. Read at start',
        'json',
      ),
    }),
    'Logging',
    {},
  ),
  shutdownTimeout: field(
    duration(),
    'How long plugins may drain on SIGTERM/SIGINT before they are forced; keep it under terminationGracePeriodSeconds',
    '25s',
  ),
  dataDir: field(
    v.pipe(v.string(), v.minLength(1)),
    'Plugin state (checkpoints, versions); each instance gets its own subdirectory. Relative to this file.',
    '/var/lib/sidekick',
  ),
  restart: field(
    v.strictObject({
      initialDelay: field(duration(), 'Delay before the first restart of a failed plugin', '1s'),
      maxDelay: field(duration(), 'Longest delay between restarts; the delay doubles up to it', '1m'),
      startTimeout: field(duration(), 'A plugin whose start has not finished by then counts as failed to start', '1m'),
    }),
    'Start and restart of plugins: a start that hangs fails; a run-time failure restarts with exponential backoff and jitter',
    {},
  ),
  watchConfig: field(v.boolean(), 'Reload when this file changes on disk (also a ConfigMap ..data swap); SIGHUP always reloads', true),
  plugins: field(
    v.record(v.string(), instanceSchema),
    'Plugin instances by name. The name appears in logs, metric labels and /status. Started in this order.',
    {},
  ),
});

export type CoreConfig = v.InferOutput<typeof coreSchema>;
