import { MetricSample } from '../../shared/metrics.ts';
import type { WinrmClient } from './client.ts';
import { WinrmFaultError, WinrmInvalidClassError } from './errors.ts';
import { METRICS_SCRIPT } from './metrics-script.ts';
import { wmiNumber, type WmiInstance } from './wmi-instance.ts';

/**
 * The `windows-wmi` numbers: one Enumerate per WMI class per poll. Explicit property lists keep
 * the answers small (w:XmlFragment items) so OptimizeEnumeration returns everything inline
 * and no Pull is needed. Queries run together; the transport gives each its own authenticated
 * connection up to the client's cap and queues the rest (never two requests on one socket).
 */
export const METRIC_QUERIES = {
  cpu: "SELECT PercentProcessorTime FROM Win32_PerfFormattedData_PerfOS_Processor WHERE Name='_Total'",
  cpuFallback: 'SELECT LoadPercentage FROM Win32_Processor',
  os: 'SELECT TotalVisibleMemorySize,FreePhysicalMemory,NumberOfProcesses FROM Win32_OperatingSystem',
  disk: 'SELECT Size,FreeSpace FROM Win32_LogicalDisk WHERE DriveType=3',
  net:
    'SELECT Name,BytesSentPersec,BytesReceivedPersec,CurrentBandwidth,PacketsSentPersec,PacketsReceivedPersec,' +
    'PacketsOutboundErrors,PacketsReceivedErrors,PacketsOutboundDiscarded,PacketsReceivedDiscarded ' +
    'FROM Win32_PerfFormattedData_Tcpip_NetworkInterface',
} as const;

/** Tunnel pseudo-interfaces are not physical links and report fake bandwidth. */
const VIRTUAL_NIC = /isatap|teredo|6to4|pseudo-interface|loopback/i;

type Part = Omit<MetricSample, 'collection_ms'>;

const int = (n: number | undefined): number | null =>
  n === undefined || !Number.isFinite(n) ? null : Math.max(0, Math.round(n));

export function cpuFromInstances(
  formatted: WmiInstance[] | undefined,
  fallback: WmiInstance[] | undefined,
): number | null {
  const v = wmiNumber(formatted?.[0], 'PercentProcessorTime');
  if (v !== undefined) return Math.min(100, Math.max(0, v));
  const loads = (fallback ?? []).map((p) => wmiNumber(p, 'LoadPercentage')).filter((x): x is number => x !== undefined);
  if (loads.length === 0) return null;
  return Math.min(100, Math.max(0, loads.reduce((a, b) => a + b, 0) / loads.length));
}

export function memoryFromInstances(os: WmiInstance[]): Pick<Part, 'memory_total' | 'memory_used' | 'process_count'> {
  const o = os[0];
  const totalKb = wmiNumber(o, 'TotalVisibleMemorySize');
  const freeKb = wmiNumber(o, 'FreePhysicalMemory');
  return {
    memory_total: totalKb === undefined ? null : totalKb * 1024,
    memory_used: totalKb === undefined || freeKb === undefined ? null : Math.max(0, totalKb - freeKb) * 1024,
    process_count: int(wmiNumber(o, 'NumberOfProcesses')),
  };
}

export function diskFromInstances(disks: WmiInstance[]): Pick<Part, 'disk_total' | 'disk_used'> {
  let total = 0n;
  let used = 0n;
  let seen = false;
  for (const d of disks) {
    const size = d.properties.Size;
    const free = d.properties.FreeSpace;
    if (typeof size !== 'string' || typeof free !== 'string' || !/^\d+$/.test(size) || !/^\d+$/.test(free)) continue;
    seen = true;
    total += BigInt(size);
    used += BigInt(size) - BigInt(free);
  }
  return seen
    ? { disk_total: Number(total), disk_used: Number(used < 0n ? 0n : used) }
    : { disk_total: null, disk_used: null };
}

export function networkFromInstances(
  nics: WmiInstance[],
): Pick<
  Part,
  | 'net_sent_ps'
  | 'net_recv_ps'
  | 'net_utilization'
  | 'net_bandwidth'
  | 'packets_sent'
  | 'packets_recv'
  | 'net_errors'
  | 'net_dropped'
> {
  let sent = 0,
    recv = 0,
    bw = 0,
    ps = 0,
    pr = 0,
    errs = 0,
    drops = 0;
  const n = (i: WmiInstance, p: string) => wmiNumber(i, p) ?? 0;
  let count = 0;
  for (const i of nics) {
    const name = typeof i.properties.Name === 'string' ? i.properties.Name : '';
    if (VIRTUAL_NIC.test(name)) continue;
    count++;
    sent += n(i, 'BytesSentPersec');
    recv += n(i, 'BytesReceivedPersec');
    bw += n(i, 'CurrentBandwidth');
    ps += n(i, 'PacketsSentPersec');
    pr += n(i, 'PacketsReceivedPersec');
    errs += n(i, 'PacketsOutboundErrors') + n(i, 'PacketsReceivedErrors');
    drops += n(i, 'PacketsOutboundDiscarded') + n(i, 'PacketsReceivedDiscarded');
  }
  if (count === 0) {
    return {
      net_sent_ps: null,
      net_recv_ps: null,
      net_utilization: null,
      net_bandwidth: null,
      packets_sent: null,
      packets_recv: null,
      net_errors: null,
      net_dropped: null,
    };
  }
  return {
    net_sent_ps: sent,
    net_recv_ps: recv,
    // CurrentBandwidth is bits/s; the byte rates are bytes/s.
    net_utilization: bw > 0 ? Math.round(((sent + recv) * 8 * 100 * 10000) / bw) / 10000 : null,
    net_bandwidth: bw > 0 ? int(bw) : null,
    packets_sent: int(ps),
    packets_recv: int(pr),
    net_errors: int(errs),
    net_dropped: int(drops),
  };
}

/** A class the host does not have (older Windows, disabled perf counters) leaves its fields null. */
async function optional(p: Promise<WmiInstance[]>): Promise<WmiInstance[] | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof WinrmInvalidClassError) return undefined;
    throw err;
  }
}

/** One poll over WMI. Throws typed WinrmErrors for connection, auth, TLS, timeout and quota failures. */
export async function collectWindowsMetrics(client: WinrmClient): Promise<MetricSample> {
  const started = performance.now();
  const [cpu, os, disk, net] = await Promise.all([
    optional(client.enumerate(METRIC_QUERIES.cpu)),
    client.enumerate(METRIC_QUERIES.os),
    optional(client.enumerate(METRIC_QUERIES.disk)),
    optional(client.enumerate(METRIC_QUERIES.net)),
  ]);
  let cpuFallback: WmiInstance[] | undefined;
  if (!cpu || cpu.length === 0 || wmiNumber(cpu[0], 'PercentProcessorTime') === undefined) {
    cpuFallback = await optional(client.enumerate(METRIC_QUERIES.cpuFallback));
  }
  return MetricSample.parse({
    cpu_percent: cpuFromInstances(cpu, cpuFallback),
    ...memoryFromInstances(os),
    ...(disk ? diskFromInstances(disk) : { disk_total: null, disk_used: null }),
    ...networkFromInstances(net ?? []),
    collection_ms: Math.round(performance.now() - started),
  });
}

const ScriptOutput = MetricSample.omit({ collection_ms: true });

/** Parses the script's stdout: the last line that is a JSON object. */
export function parseMetricsScriptOutput(stdout: string): Omit<MetricSample, 'collection_ms'> {
  const line = stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .reverse()
    .find((l) => l.startsWith('{') && l.endsWith('}'));
  if (!line) throw new WinrmFaultError('the metrics script printed no JSON', 'script_output');
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    throw new WinrmFaultError('the metrics script printed invalid JSON', 'script_output');
  }
  const parsed = ScriptOutput.safeParse(data);
  if (!parsed.success)
    throw new WinrmFaultError('the metrics script printed values outside the metric schema', 'script_output');
  return parsed.data;
}

/** The `windows-powershell` path: the same sample from one PowerShell script in a WinRS shell. */
export async function collectWindowsMetricsPowerShell(
  client: WinrmClient,
  o: { timeoutMs?: number } = {},
): Promise<MetricSample> {
  const started = performance.now();
  const res = await client.runPowerShell(METRICS_SCRIPT, o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});
  if (res.exitCode !== 0) {
    const why =
      res.stderr
        .split(/\r?\n/)
        .find((l) => l.trim() !== '')
        ?.trim()
        .slice(0, 300) ?? 'no error text';
    throw new WinrmFaultError(`the metrics script exited with code ${res.exitCode}: ${why}`, `exit_${res.exitCode}`);
  }
  return { ...parseMetricsScriptOutput(res.stdout), collection_ms: Math.round(performance.now() - started) };
}
