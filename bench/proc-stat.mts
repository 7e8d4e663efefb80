/**
 * CPU and memory of other processes, read from /proc (Linux): what the benchmarks charge to the
 * server, PostgreSQL, an agent or the simulator, each apart.
 */
import { readdirSync, readFileSync } from 'node:fs';

const HZ = 100; // USER_HZ: /proc/PID/stat times are in 1/100 s on Linux

function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the ")" closing the command name: [0] state, [1] ppid, … [11] utime, [12] stime, [13] cutime, [14] cstime.
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime in seconds (+ reaped children's when asked); undefined once the process is gone. */
export function procCpuS(pid: number, withReapedChildren = false): number | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  return (Number(f[11]) + Number(f[12]) + (withReapedChildren ? Number(f[13]) + Number(f[14]) : 0)) / HZ;
}

export function procRssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** PostgreSQL's CPU seconds: the postmaster (with the backends it reaped) plus every live backend. */
export function postgresCpuS(postmasterPid: number): number {
  let t = procCpuS(postmasterPid, true) ?? 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(Number(d));
    if (f && Number(f[1]) === postmasterPid) t += (Number(f[11]) + Number(f[12])) / HZ;
  }
  return t;
}

/** The postmaster's pid from its data directory. */
export const postmasterPid = (pgDataDir: string): number =>
  Number(readFileSync(`${pgDataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
