// V8's optimizing compiler, TurboFan, costs an idle agent about 6 MB of RSS: its code in the Node
// binary pages in on its first job, and its compile memory stays. Start-up alone is hot enough to
// give it that first job (module resolution normalises a few hundred paths), so an agent that then
// sits idle, as a sidecar mostly does, pays for a compiler it has no use for; the baseline compiler
// (Sparkplug) costs another ~1 MB of code. The image starts node with `--no-sparkplug --no-turbofan
// --no-freeze-flags-after-init`, and this turns both on once the event loop is busy: over half of
// three 100 ms windows in a row (a burst of work, such as a log backlog, waits 300 ms) or over 2%
// of three 500 ms periods in a row (steady traffic, down to a few hundred requests a second). An
// idle agent's own work stays under both: polls take a few ms, and its one long pause, V8's memory
// reducer's full GC some seconds after start, fills one window and one period. From then on
// tiering proceeds as usual; below 2% the agent runs interpreted code, which costs little there.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

const WINDOW_MS = 100;
const BURST = 0.5;
const BURST_WINDOWS = 3;
const STEADY = 0.02;
const PERIOD_WINDOWS = 5;
const STEADY_PERIODS = 3;

export class OptimizerOnLoad {
  /** Whether node was started in this mode and the compilers are still off. */
  waiting: boolean;
  private readonly flags: string;
  private timer?: NodeJS.Timeout;

  constructor(execArgv: readonly string[] = process.execArgv) {
    // Both flags: `--no-turbofan` alone is someone's deliberate choice, and V8 refuses to change
    // flags after start unless they were left unfrozen.
    this.waiting = execArgv.includes('--no-turbofan') && execArgv.includes('--no-freeze-flags-after-init');
    this.flags = execArgv.includes('--no-sparkplug') ? '--sparkplug --turbofan' : '--turbofan';
  }

  /** Watch the load from now on (start-up's own busy time is behind); `onLoad` once they are on. */
  arm(onLoad: () => void): void {
    if (!this.waiting || this.timer) return;
    let short = performance.eventLoopUtilization();
    let long = short;
    let windows = 0;
    let busyWindows = 0;
    let busyPeriods = 0;
    this.timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      busyWindows = performance.eventLoopUtilization(now, short).utilization >= BURST ? busyWindows + 1 : 0;
      const burst = busyWindows >= BURST_WINDOWS;
      short = now;
      if (++windows === PERIOD_WINDOWS) {
        busyPeriods = performance.eventLoopUtilization(now, long).utilization >= STEADY ? busyPeriods + 1 : 0;
        long = now;
        windows = 0;
      }
      if (!burst && busyPeriods < STEADY_PERIODS) return;
      this.stop();
      setFlagsFromString(this.flags);
      this.waiting = false;
      onLoad();
    }, WINDOW_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
