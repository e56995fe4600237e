// The agent's own keys. Plugin keys are validated by each plugin's schema.
import { z } from 'zod';
import { LOG_LEVELS } from '../logger.ts';
import { listenAddress } from './listen-address.ts';
import { duration } from './units.ts';

export const INSTANCE_NAME = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;

export const instanceSchema = z
  .looseObject({
    type: z
      .string()
      .min(1)
      .describe('A built-in plugin type, a path to a plugin module (./my-plugin.js, relative to this file) or an npm package name'),
  })
  .describe("One plugin instance: `type` plus that plugin's own keys");

export const coreSchema = z.strictObject({
  admin: z
    .strictObject({
      listen: listenAddress()
        .prefault('0.0.0.0:9901')
        .describe('Address of the admin endpoint: GET /healthz /readyz /metrics /status. Port 0 picks a free port.'),
    })
    .prefault({})
    .describe('Admin HTTP endpoint for probes, metrics and status'),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info').describe('Lowest level logged; JSON lines on stdout'),
    })
    .prefault({})
    .describe('Logging'),
  shutdownTimeout: duration()
    .prefault('25s')
    .describe('How long plugins may drain on SIGTERM/SIGINT before they are forced; keep it under terminationGracePeriodSeconds'),
  dataDir: z
    .string()
    .min(1)
    .default('/var/lib/sidekick')
    .describe('Plugin state (checkpoints, versions); each instance gets its own subdirectory. Relative to this file.'),
  restart: z
    .strictObject({
      initialDelay: duration().prefault('1s').describe('Delay before the first restart of a failed plugin'),
      maxDelay: duration().prefault('1m').describe('Longest delay between restarts; the delay doubles up to it'),
      startTimeout: duration().prefault('1m').describe("A plugin whose start has not finished by then counts as failed to start"),
    })
    .prefault({})
    .describe('Start and restart of plugins: a start that hangs fails; a run-time failure restarts with exponential backoff and jitter'),
  watchConfig: z
    .boolean()
    .default(true)
    .describe('Reload when this file changes on disk (also a ConfigMap ..data swap); SIGHUP always reloads'),
  plugins: z
    .record(z.string(), instanceSchema)
    .default({})
    .describe('Plugin instances by name. The name appears in logs, metric labels and /status. Started in this order.'),
});

export type CoreConfig = z.output<typeof coreSchema>;
