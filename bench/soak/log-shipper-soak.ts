// Soak of log-shipper in the real agent process: a writer appending at a varying rate to
// several files and rotating them every way logrotate can, the agent SIGKILLed at seeded random
// moments and restarted (files rotated while it is down too), the sink randomly down, 503, 429
// or slow. At the end every line must have arrived; duplicates are counted against what was in
// flight at each kill (lines acknowledged after the last checkpoint save before it).
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultySink, SINK_MODES, type SinkMode } from './faulty-sink.ts';
import { LogWriter, ROTATIONS, type Rotation } from './log-writer.ts';
import { type Agent, Rng, kill, peakRss, sleep, startAgent, until } from './soak-kit.ts';

export interface LogSoakOptions {
  seed: number;
  cycles: number;
  files: number;
  /** Each cycle runs this long (ms, random in the range) before the kill. */
  runMs: [number, number];
  /** The agent stays down this long (ms, random in the range). */
  downMs: [number, number];
  /** Lines per second, picked anew every phase from this list. */
  rates: readonly number[];
  /** How long the final catch-up may take before the run counts the rest as lost. */
  drainTimeoutMs: number;
  log?: (line: string) => void;
}

export interface CycleFigures {
  cycle: number;
  /** ms from the restart until the agent logged ready. */
  readyMs: number;
  /** ms from the restart until every line written before the kill had arrived (undefined: not before the next kill). */
  caughtUpMs?: number;
  /** Lines the sink accepted after the last checkpoint save before the kill: what may come again. */
  inFlight: number;
  rotationsWhileDown: number;
}

export interface LogSoakResult {
  seed: number;
  linesWritten: number;
  bytesWritten: number;
  lost: number;
  /** The first runs of missing lines, `L<file> <from>..<to>`, to start a diagnosis. */
  lostRanges: string[];
  duplicateRanges: string[];
  duplicates: number;
  duplicateBound: number;
  peakRssBytes: number;
  cycles: CycleFigures[];
  rotations: Record<Rotation, number>;
  rotationFallbacks: number;
  sinkAnswers: Record<string, number>;
  sinkModeMs: Record<SinkMode, number>;
  durationMs: number;
}

export async function runLogShipperSoak(o: LogSoakOptions): Promise<LogSoakResult> {
  const log = o.log ?? (() => {});
  // One stream per actor: the kill schedule, the app and the sink each replay the same decisions for a seed.
  const rng = new Rng(o.seed);
  const appRng = new Rng(o.seed ^ 0x5eed0001);
  const sinkRng = new Rng(o.seed ^ 0x5eed0002);
  const began = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'soak-logs-'));
  const logs = join(dir, 'logs');
  await mkdir(logs);
  const writer = new LogWriter(logs, o.files, appRng);
  const sink = new FaultySink(sinkRng, (f, s) => writer.accept(f, s));
  const url = await sink.listen();
  const config = join(dir, 'sidekick.yaml');
  await writeFile(
    config,
    `admin: { listen: 127.0.0.1:0 }
log: { level: debug }
dataDir: ${dir}/data
shutdownTimeout: 10s
plugins:
  logs:
    type: log-shipper
    include: ["${logs}/*.log"]
    pollInterval: 100ms
    rotateWait: 2s
    batch: { maxEvents: 2000, maxWait: 50ms }
    retry: { initialDelay: 50ms, maxDelay: 1s }
    sink: { type: http, url: "${url}", timeout: 5s }
`,
  );
  const checkpoints = join(dir, 'data/logs/checkpoints.json');
  let agent: Agent | undefined;
  let writing = true;
  let down = false;
  let rotationsWhileDown = 0;
  let peak = 0;
  const cycles: CycleFigures[] = [];

  // The app: writes every 20 ms at the phase's rate, rotates now and then, faster while the agent is down.
  let rate = appRng.pick(o.rates);
  let carry = 0;
  // The agent's first start comes first: files rotated away before it ever ran are not its to ship.
  agent = startAgent(config, join(dir, 'agent.log'));
  const firstReady = agent.ready;
  const writerLoop = (async () => {
    await firstReady.catch(() => undefined);
    let last = performance.now();
    let phaseEnd = Date.now() + appRng.int(300, 1500);
    while (writing) {
      await sleep(20);
      const now = performance.now();
      carry += (rate * (now - last)) / 1000;
      last = now;
      const n = Math.floor(carry);
      carry -= n;
      if (n > 0) writer.write(n);
      if (Date.now() > phaseEnd) {
        rate = appRng.pick(o.rates);
        phaseEnd = Date.now() + appRng.int(300, 1500);
      }
      if (appRng.chance(down ? 0.06 : 0.015)) {
        writer.rotate(appRng.pick(ROTATIONS));
        if (down) rotationsWhileDown++;
      }
    }
  })();

  // The sink: a new mode every 0.2-1.5 s, healthy half the time.
  let faulting = true;
  const sinkLoop = (async () => {
    while (faulting) {
      await sink.setMode(sinkRng.chance(0.5) ? 'ok' : sinkRng.pick(SINK_MODES.filter((m) => m !== 'ok')));
      await sleep(sinkRng.int(200, 1500));
    }
  })();

  try {
    await firstReady;
    for (let c = 1; c <= o.cycles; c++) {
      const runFor = rng.int(o.runMs[0], o.runMs[1]);
      await sleep(runFor);
      peak = Math.max(peak, peakRss(agent.pid));
      const killedAt = Date.now();
      await kill(agent);
      writer.note(`killed (cycle ${c}), next ${writer.marks().join(' ')}`);
      // The state the restart resumes from, for the diagnosis of a kept run.
      if (process.env.SOAK_KEEP) await copyFile(checkpoints, join(dir, `checkpoints-at-kill-${c}.json`)).catch(() => undefined);
      // What the kill may make the agent send again: lines acknowledged after the state it will resume from.
      const savedAt = await stat(checkpoints).then((s) => s.mtimeMs, () => 0);
      const inFlight = sink.acceptedBetween(savedAt - 250, killedAt + 50);
      const marks = writer.marks();
      down = true;
      rotationsWhileDown = 0;
      const downFor = rng.int(o.downMs[0], o.downMs[1]);
      await sleep(downFor);
      // At least one rotation while the agent is down, every cycle.
      if (rotationsWhileDown === 0) {
        writer.rotate(appRng.pick(ROTATIONS));
        rotationsWhileDown++;
      }
      down = false;
      agent = startAgent(config, join(dir, 'agent.log'));
      writer.note(`started (cycle ${c})`);
      const readyMs = await agent.ready;
      const figures: CycleFigures = { cycle: c, readyMs: Math.round(readyMs), inFlight, rotationsWhileDown };
      cycles.push(figures);
      const restartedAt = agent.startedAt;
      const thisAgent = agent;
      // Measured in the background: the next kill may come first.
      void (async () => {
        while (agent === thisAgent && thisAgent.child.exitCode === null && thisAgent.child.signalCode === null) {
          if (writer.caughtUp(marks)) {
            figures.caughtUpMs = Math.round(performance.now() - restartedAt);
            return;
          }
          await sleep(25);
        }
      })();
      log(`cycle ${c}/${o.cycles}: ran ${runFor} ms, killed, down ${downFor} ms (${rotationsWhileDown} rotations), ready in ${figures.readyMs} ms, in flight ${inFlight} lines`);
    }
    // The end: the app stops, the sink heals, everything must arrive.
    writing = false;
    await writerLoop;
    faulting = false;
    await sinkLoop;
    await sink.setMode('ok');
    const marks = writer.marks();
    await until('every line at the sink', () => writer.caughtUp(marks), o.drainTimeoutMs, 100).catch((err: Error) => log(err.message));
    peak = Math.max(peak, peakRss(agent.pid));
    await kill(agent, 'SIGTERM');
  } finally {
    writing = false;
    faulting = false;
    await writerLoop.catch(() => undefined);
    await sinkLoop.catch(() => undefined);
    if (agent) await kill(agent);
    await sink.close();
    writer.close();
  }
  const { lost, duplicates, lostRanges, duplicateRanges } = writer.tally();
  const result: LogSoakResult = {
    seed: o.seed,
    linesWritten: writer.linesWritten,
    bytesWritten: writer.bytesWritten,
    lost,
    lostRanges,
    duplicateRanges,
    duplicates,
    duplicateBound: cycles.reduce((n, c) => n + c.inFlight, 0),
    peakRssBytes: peak,
    cycles,
    rotations: writer.rotations,
    rotationFallbacks: writer.fallbacks,
    sinkAnswers: sink.answers,
    sinkModeMs: sink.modeTime,
    durationMs: Date.now() - began,
  };
  // A loss in CI leaves nothing to look at but the output: say what happened around it.
  if (lost > 0) log(`lost lines; what happened (rotations, kills, starts):\n${writer.trace.join('\n')}\nthe agent on the files concerned:\n${await agentNotes(join(dir, 'agent.log'), lostRanges)}`);
  if (!process.env.SOAK_KEEP) await rm(dir, { recursive: true, force: true });
  else {
    await writeFile(join(dir, 'trace.txt'), `${writer.trace.join('\n')}\nlost ${lostRanges.join(', ')}\n`);
    log(`kept ${dir} (SOAK_KEEP), its trace.txt says what happened when`);
  }
  return result;
}

/** The agent's info and error lines (no debug, no retries) about the files lines were lost from. */
async function agentNotes(logFile: string, lostRanges: string[]): Promise<string> {
  const files = new Set(lostRanges.map((r) => `app${r.slice(1, r.indexOf(' '))}.log`));
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => !l.includes('"level":"debug"') && !l.includes('retrying') && [...files].some((f) => l.includes(`/${f}`)))
    .slice(0, 200)
    .join('\n');
}
