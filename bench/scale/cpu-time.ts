// CPU time per process from /proc (user + system), so that a run says which part of the machine
// the time went to: on two shared cores, a stage waits on whichever process is busiest.
import { procStat } from '../../test/env/processes.js';

/** Linux's USER_HZ: /proc's stat counts in these ticks on every architecture Node runs on here. */
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used so far, or NaN once it has gone. */
export function cpuSeconds(pid: number): number {
  try {
    const field = procStat(pid);
    return (field(14) + field(15)) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

export type CpuSample = Record<string, number>;

export function sampleCpu(pids: Record<string, number | undefined>): CpuSample {
  return Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [
      name,
      pid === undefined ? NaN : pid === process.pid ? processCpuSeconds() : cpuSeconds(pid),
    ]),
  );
}

function processCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** CPU seconds per process between two samples, busiest first. */
export function cpuBetween(a: CpuSample, b: CpuSample): Record<string, number> {
  return Object.fromEntries(
    Object.keys(b)
      .map((k) => [k, Number(((b[k] ?? NaN) - (a[k] ?? NaN)).toFixed(1))] as const)
      .sort(([, x], [, y]) => y - x),
  );
}
