// V8's optimizing compiler, TurboFan, costs an idle agent about 6 MB of RSS: its code in the Node
// binary pages in on its first job, and its compile memory stays. Start-up alone is hot enough to
// give it that first job (module resolution normalises a few hundred paths), so an agent that then
// sits idle, as a sidecar mostly does, pays for a compiler it has no use for; the baseline compiler
// (Sparkplug) costs another ~1 MB of code. The image starts node with `--no-sparkplug --no-turbofan
// --no-freeze-flags-after-init`; this turns both on once the event loop is busy: over half of one
// liveness tick (500 ms; a burst of work such as a log backlog), or over 1% for three ticks in a row
// (steady traffic, down to a few hundred requests a second). An idle agent's own bursts (a poll,
// V8's memory reducer a few seconds after start) stay under both. From then on tiering proceeds as
// usual; below 1% the agent keeps running interpreted code, which costs little at that load.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

const BURST = 0.5;
const STEADY = 0.01;
const STEADY_TICKS = 3;

export class OptimizerOnLoad {
  /** Whether node was started in this mode and the compilers are still off. */
  waiting: boolean;
  private armed = false;
  private busyTicks = 0;
  private readonly flags: string;
  private last = performance.eventLoopUtilization();

  constructor(execArgv: readonly string[] = process.execArgv) {
    // Both flags: `--no-turbofan` alone is someone's deliberate choice, and V8 refuses to change
    // flags after start unless they were left unfrozen.
    this.waiting = execArgv.includes('--no-turbofan') && execArgv.includes('--no-freeze-flags-after-init');
    this.flags = execArgv.includes('--no-sparkplug') ? '--sparkplug --turbofan' : '--turbofan';
  }

  /** Start watching the load from now on (once start-up's own busy time is behind). */
  arm(): void {
    this.last = performance.eventLoopUtilization();
    this.armed = true;
  }

  /** Called once per liveness tick; true when this call turned TurboFan on. */
  check(): boolean {
    if (!this.waiting || !this.armed) return false;
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, this.last).utilization;
    this.last = now;
    this.busyTicks = busy < STEADY ? 0 : this.busyTicks + 1;
    if (busy < BURST && this.busyTicks < STEADY_TICKS) return false;
    setFlagsFromString(this.flags);
    this.waiting = false;
    return true;
  }
}
