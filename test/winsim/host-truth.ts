import type { MetricSample } from '../../shared/metrics.ts';
import type { HostProfile } from './host-profile.ts';
import type { HostState, NicState } from './host-state.ts';

/** Tunnel pseudo-interfaces, as a client filters them out. */
const VIRTUAL_NIC = /isatap|teredo|6to4|pseudo-interface|loopback/i;

/**
 * A host's current true values, for tests to compare against what a client collected.
 * `sample` uses the windows-wmi definitions: cpu = PerfFormatted `_Total`, memory and disk in bytes over
 * fixed drives, network rates and packet rates from PerfFormatted summed over physical interfaces,
 * utilization = (sent+recv)*8*100/sum(CurrentBandwidth) rounded to 4 decimals, errors and discards
 * the raw absolute counts. Values hold from `validFromMs` until `validUntilMs` (one simulator tick).
 */
export interface HostTruth {
  hostname: string;
  caption: string;
  version: string;
  validFromMs: number;
  validUntilMs: number;
  cpuPercent: number;
  cpuPerCore: number[];
  memoryTotalKb: number;
  memoryFreeKb: number;
  disks: { deviceId: string; driveType: number; sizeBytes: number | null; freeBytes: number | null }[];
  interfaces: NicState[];
  processCount: number;
  sample: Omit<MetricSample, 'collection_ms'>;
}

export function computeTruth(profile: HostProfile, state: HostState): HostTruth {
  const fixed = state.disks.filter((d) => d.driveType === 3 && d.sizeBytes !== null);
  const diskTotal = fixed.reduce((a, d) => a + d.sizeBytes!, 0);
  const diskFree = fixed.reduce((a, d) => a + d.freeBytes!, 0);
  const phys = state.nics.filter((n) => !VIRTUAL_NIC.test(n.name));
  const sum = (f: (n: NicState) => number): number => phys.reduce((a, n) => a + f(n), 0);
  const sent = sum((n) => n.bytesSentPerSec);
  const recv = sum((n) => n.bytesReceivedPerSec);
  const bw = sum((n) => n.bandwidth);
  return {
    hostname: profile.hostname,
    caption: profile.caption,
    version: profile.os.version,
    validFromMs: state.stepStartMs,
    validUntilMs: state.stepEndMs,
    cpuPercent: state.cpu.totalPercent,
    cpuPerCore: state.cpu.corePercent,
    memoryTotalKb: state.memory.totalKb,
    memoryFreeKb: state.memory.freeKb,
    disks: state.disks,
    interfaces: state.nics,
    processCount: state.processCount,
    sample: {
      cpu_percent: state.cpu.totalPercent,
      memory_total: state.memory.totalKb * 1024,
      memory_used: (state.memory.totalKb - state.memory.freeKb) * 1024,
      disk_total: diskTotal,
      disk_used: diskTotal - diskFree,
      net_sent_ps: sent,
      net_recv_ps: recv,
      net_utilization: bw > 0 ? Math.round(((sent + recv) * 8 * 100 * 10000) / bw) / 10000 : null,
      net_bandwidth: bw > 0 ? bw : null,
      packets_sent: sum((n) => n.packetsSentPerSec),
      packets_recv: sum((n) => n.packetsReceivedPerSec),
      net_errors: sum((n) => n.packetsOutboundErrors + n.packetsReceivedErrors),
      net_dropped: sum((n) => n.packetsOutboundDiscarded + n.packetsReceivedDiscarded),
      process_count: state.processCount,
    },
  };
}

/** The one JSON line the agent's metrics script prints on a real host (PowerShell decimal formatting). */
export function metricsScriptJson(truth: HostTruth): string {
  const s = truth.sample;
  const n = (v: number | null): string => (v === null ? 'null' : String(v));
  return (
    `{"cpu_percent":${n(s.cpu_percent)},"memory_total":${n(s.memory_total)},"memory_used":${n(s.memory_used)},` +
    `"disk_total":${n(s.disk_total)},"disk_used":${n(s.disk_used)},"net_sent_ps":${n(s.net_sent_ps)},` +
    `"net_recv_ps":${n(s.net_recv_ps)},"net_utilization":${n(s.net_utilization)},` +
    `"net_bandwidth":${n(s.net_bandwidth ?? null)},"packets_sent":${n(s.packets_sent)},` +
    `"packets_recv":${n(s.packets_recv)},"net_errors":${n(s.net_errors)},"net_dropped":${n(s.net_dropped)},` +
    `"process_count":${n(s.process_count)}}`
  );
}
