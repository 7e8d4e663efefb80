import type { HostProfile } from './host-profile.ts';
import { keyId, rand01, randInt, telescoped, type Telescoped } from './prng.ts';

/** What a host's counters read at one instant. Everything is integer, as Windows reports it. */
export interface HostState {
  timeMs: number;
  step: number;
  stepStartMs: number;
  stepEndMs: number;
  bootMs: number;
  /** Windows FILETIME (100 ns since 1601) of timeMs, what Timestamp_Sys100NS carries. */
  timestampSys100ns: bigint;
  /** 100 ns ticks since boot (Timestamp_PerfTime at Frequency_PerfTime = 10 MHz). */
  uptimeTicks: number;
  cpu: { totalPercent: number; corePercent: number[]; totalIdleTicks: number; coreIdleTicks: number[] };
  memory: { totalKb: number; freeKb: number };
  disks: { deviceId: string; driveType: 3 | 5; sizeBytes: number | null; freeBytes: number | null }[];
  nics: NicState[];
  processCount: number;
}

export interface NicState {
  name: string;
  physical: boolean;
  bandwidth: number;
  bytesSentPerSec: number;
  bytesReceivedPerSec: number;
  packetsSentPerSec: number;
  packetsReceivedPerSec: number;
  bytesSentTotal: number;
  bytesReceivedTotal: number;
  packetsSentTotal: number;
  packetsReceivedTotal: number;
  packetsOutboundErrors: number;
  packetsReceivedErrors: number;
  packetsOutboundDiscarded: number;
  packetsReceivedDiscarded: number;
}

const FILETIME_EPOCH_OFFSET_MS = 11644473600000n;

/** Precomputed per-host generators; building them once keeps computeHostState allocation-light. */
export interface HostDynamics {
  profile: HostProfile;
  tickMs: number;
  bootStep: number;
  cpuTotal: Telescoped;
  cpuPairs: Telescoped[];
  memBaseUsed: number;
  nics: { sent: Telescoped; recv: Telescoped; psent: Telescoped; precv: Telescoped }[];
}

export function createHostDynamics(profile: HostProfile, tickMs: number, startMs: number): HostDynamics {
  const k = (key: string, ...more: number[]): number[] => [profile.seed, profile.index, keyId(key), ...more];
  const base = randInt(4, 65, ...k('cpubase'));
  const room = Math.min(base, 100 - base);
  const cpuPairs: Telescoped[] = [];
  for (let p = 0; p < Math.floor(profile.cpuCount / 2); p++) cpuPairs.push(telescoped(0, Math.floor(room / 4), ...k('cpupair', p)));
  return {
    profile,
    tickMs,
    bootStep: Math.floor((startMs - profile.uptimeSeconds * 1000) / tickMs),
    cpuTotal: telescoped(base, Math.floor(room / 4), ...k('cpu')),
    cpuPairs,
    memBaseUsed: 0.3 + rand01(...k('memused')) * 0.5,
    nics: profile.nics.map((n, i) => {
      const psBase = n.physical ? Math.max(2, Math.round(n.sentBase / n.packetSize)) : 0;
      const prBase = n.physical ? Math.max(2, Math.round(n.recvBase / n.packetSize)) : 0;
      return {
        sent: telescoped(n.sentBase, Math.floor(n.sentBase / 3), ...k('nicsent', i)),
        recv: telescoped(n.recvBase, Math.floor(n.recvBase / 3), ...k('nicrecv', i)),
        psent: telescoped(psBase, Math.floor(psBase / 3), ...k('nicpsent', i)),
        precv: telescoped(prBase, Math.floor(prBase / 3), ...k('nicprecv', i)),
      };
    }),
  };
}

export function computeHostState(d: HostDynamics, timeMs: number): HostState {
  const { profile, tickMs, bootStep } = d;
  const t = Math.floor(timeMs);
  const step = Math.floor(t / tickMs);
  const stepStartMs = step * tickMs;
  const intoStep = t - stepStartMs;
  const bootMs = bootStep * tickMs;
  const steps = step - bootStep;
  const k = (key: string, ...more: number[]): number[] => [profile.seed, profile.index, keyId(key), ...more];

  // CPU: idle time integrates (100 - busy%) over whole steps plus the current partial step.
  const perMsPerPercent = 100; // 100 ns ticks per ms per percent = 10000 / 100
  const totalPercent = d.cpuTotal.rate(step);
  const totalBusySum = d.cpuTotal.sum(step) - d.cpuTotal.sum(bootStep);
  const totalIdleTicks = tickMs * perMsPerPercent * (100 * steps - totalBusySum) + intoStep * perMsPerPercent * (100 - totalPercent);
  const corePercent: number[] = [];
  const coreIdleTicks: number[] = [];
  for (let c = 0; c < profile.cpuCount; c++) {
    const pair = d.cpuPairs[c >> 1];
    const sign = c % 2 === 0 ? 1 : -1;
    const off = pair ? sign * pair.rate(step) : 0;
    const offSum = pair ? sign * (pair.sum(step) - pair.sum(bootStep)) : 0;
    corePercent.push(totalPercent + off);
    coreIdleTicks.push(tickMs * perMsPerPercent * (100 * steps - totalBusySum - offSum) + intoStep * perMsPerPercent * (100 - totalPercent - off));
  }

  const used = d.memBaseUsed + (rand01(...k('memstep', step)) - 0.5) * 0.1;
  const freeKb = Math.round(profile.memoryTotalKb * (1 - used));

  const disks = profile.disks.map((disk, i) => {
    if (disk.sizeBytes === null) return { deviceId: disk.deviceId, driveType: disk.driveType, sizeBytes: null, freeBytes: null };
    const jitter = (rand01(...k('diskstep', i, step)) - 0.5) * 0.004;
    const free = Math.floor((disk.sizeBytes * (disk.freeFraction + jitter)) / 4096) * 4096;
    return { deviceId: disk.deviceId, driveType: disk.driveType, sizeBytes: disk.sizeBytes, freeBytes: free };
  });

  const nics: NicState[] = profile.nics.map((n, i) => {
    const g = d.nics[i]!;
    const total = (tel: Telescoped): number => Math.floor(((tel.sum(step) - tel.sum(bootStep)) * tickMs + tel.rate(step) * intoStep) / 1000);
    const rawCount = (every: number): number => (every > 0 ? Math.floor(steps / every) : 0);
    return {
      name: n.name,
      physical: n.physical,
      bandwidth: n.bandwidth,
      bytesSentPerSec: g.sent.rate(step),
      bytesReceivedPerSec: g.recv.rate(step),
      packetsSentPerSec: g.psent.rate(step),
      packetsReceivedPerSec: g.precv.rate(step),
      bytesSentTotal: total(g.sent),
      bytesReceivedTotal: total(g.recv),
      packetsSentTotal: total(g.psent),
      packetsReceivedTotal: total(g.precv),
      packetsOutboundErrors: rawCount(n.errorEvery * 3),
      packetsReceivedErrors: rawCount(n.errorEvery),
      packetsOutboundDiscarded: rawCount(n.discardEvery * 5),
      packetsReceivedDiscarded: rawCount(n.discardEvery),
    };
  });

  return {
    timeMs: t,
    step,
    stepStartMs,
    stepEndMs: stepStartMs + tickMs,
    bootMs,
    timestampSys100ns: (BigInt(t) + FILETIME_EPOCH_OFFSET_MS) * 10000n,
    uptimeTicks: (t - bootMs) * 10000,
    cpu: { totalPercent, corePercent, totalIdleTicks, coreIdleTicks },
    memory: { totalKb: profile.memoryTotalKb, freeKb },
    disks,
    nics,
    processCount: profile.processBase + randInt(-4, 4, ...k('procstep', step)),
  };
}
