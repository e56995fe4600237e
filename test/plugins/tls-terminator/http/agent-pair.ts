// One agent with two tls-terminator instances in front of the same raw-TCP app: `fast` (the
// HTTP/1.1 fast path, the default) and `node` (http1FastPath: false, every request on Node's
// server), so each request-side rule is checked on both paths.
import { join } from 'node:path';
import { type AgentProcess, startAgent, tempDir } from '../../../helpers/agent-process.ts';
import { type RawApp, startRawApp } from './raw-app.ts';

export interface AgentPair {
  app: RawApp;
  agent: AgentProcess;
  ports: { fast: number; node: number };
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** `extraPlugins(dir)`: more plugin instances (YAML under `plugins:`), given the agent's temp dir. */
export async function startAgentPair(extraPlugins: (dir: string) => string = () => ''): Promise<AgentPair> {
  const app = await startRawApp();
  const t = await tempDir();
  const upstream = `http://127.0.0.1:${app.port}`;
  const yaml = `admin: { listen: 127.0.0.1:0 }
dataDir: ${join(t.path, 'data')}
plugins:
  fast:
    type: tls-terminator
    listen: 127.0.0.1:0
    upstream: ${upstream}
  node:
    type: tls-terminator
    listen: 127.0.0.1:0
    upstream: ${upstream}
    http1FastPath: false
${extraPlugins(t.path)}`;
  const agent = await startAgent(t.path, yaml);
  const status = await agent.status();
  const portOf = (name: string): number => {
    const p = status.plugins?.[name]?.details?.port ?? status.instances?.[name]?.details?.port;
    if (typeof p !== 'number') throw new Error(`no port for ${name} in /status: ${JSON.stringify(status)}`);
    return p;
  };
  return {
    app,
    agent,
    ports: { fast: portOf('fast'), node: portOf('node') },
    metrics: async () => (await fetch(`${agent.adminUrl}/metrics`)).text(),
    close: async () => {
      await agent.stop();
      await app.close();
      await t.cleanup();
    },
  };
}
