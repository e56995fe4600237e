// Runs a real rsyslogd (Debian package `rsyslog`) in the foreground with its own config,
// on an ephemeral port, without touching the system's syslog.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Rsyslog {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startRsyslog(dir: string, rules: string, opts: { tcpInput?: boolean } = {}): Promise<Rsyslog> {
  const portFile = join(dir, 'rsyslog.port');
  const conf = join(dir, 'rsyslog.conf');
  const input = opts.tcpInput === false ? '' : `module(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${portFile}")\n`;
  await writeFile(conf, `global(workDirectory="${dir}")\n${input}${rules}\n`);
  const child = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let port = 0;
  for (let i = 0; i < 200 && port === 0 && child.exitCode === null; i++) {
    port = Number((await readFile(portFile, 'utf8').catch(() => '0')).trim()) || 0;
    if (port === 0) await new Promise((r) => setTimeout(r, 25));
  }
  if (opts.tcpInput !== false && port === 0) {
    child.kill('SIGKILL');
    throw new Error(`rsyslogd did not start: ${stderr}`);
  }
  return {
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
