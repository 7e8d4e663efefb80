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
  for (let p = 0; p < Math.floor(profile.cpuCount / 2); p++)
    cpuPairs.push(telescoped(0, Math.floor(room / 4), ...k('cpupair', p)));
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

/** Everything that changes only from one step to the next (all the hashing), kept per host. */
interface StepParts {
  step: number;
  totalPercent: number;
  totalBusySum: number;
  coreOff: number[];
  coreOffSum: number[];
  freeKb: number;
  disks: HostState['disks'];
  nicRates: { sent: number; recv: number; psent: number; precv: number }[];
  nicSums: { sent: number; recv: number; psent: number; precv: number }[];
  processCount: number;
}

const stepCache = new WeakMap<HostDynamics, StepParts>();

function stepParts(d: HostDynamics, step: number): StepParts {
  const cached = stepCache.get(d);
  if (cached?.step === step) return cached;
  const { profile, bootStep } = d;
  const k = (key: string, ...more: number[]): number[] => [profile.seed, profile.index, keyId(key), ...more];
  const coreOff: number[] = [];
  const coreOffSum: number[] = [];
  for (let c = 0; c < profile.cpuCount; c++) {
    const pair = d.cpuPairs[c >> 1];
    const sign = c % 2 === 0 ? 1 : -1;
    coreOff.push(pair ? sign * pair.rate(step) : 0);
    coreOffSum.push(pair ? sign * (pair.sum(step) - pair.sum(bootStep)) : 0);
  }
  const used = d.memBaseUsed + (rand01(...k('memstep', step)) - 0.5) * 0.1;
  const parts: StepParts = {
    step,
    totalPercent: d.cpuTotal.rate(step),
    totalBusySum: d.cpuTotal.sum(step) - d.cpuTotal.sum(bootStep),
    coreOff,
    coreOffSum,
    freeKb: Math.round(profile.memoryTotalKb * (1 - used)),
    disks: profile.disks.map((disk, i) => {
      if (disk.sizeBytes === null)
        return { deviceId: disk.deviceId, driveType: disk.driveType, sizeBytes: null, freeBytes: null };
      const jitter = (rand01(...k('diskstep', i, step)) - 0.5) * 0.004;
      const free = Math.floor((disk.sizeBytes * (disk.freeFraction + jitter)) / 4096) * 4096;
      return { deviceId: disk.deviceId, driveType: disk.driveType, sizeBytes: disk.sizeBytes, freeBytes: free };
    }),
    nicRates: d.nics.map((g) => ({
      sent: g.sent.rate(step),
      recv: g.recv.rate(step),
      psent: g.psent.rate(step),
      precv: g.precv.rate(step),
    })),
    nicSums: d.nics.map((g) => {
      const sum = (tel: Telescoped): number => tel.sum(step) - tel.sum(bootStep);
      return { sent: sum(g.sent), recv: sum(g.recv), psent: sum(g.psent), precv: sum(g.precv) };
    }),
    processCount: profile.processBase + randInt(-4, 4, ...k('procstep', step)),
  };
  stepCache.set(d, parts);
  return parts;
}

export function computeHostState(d: HostDynamics, timeMs: number): HostState {
  const { profile, tickMs, bootStep } = d;
  const t = Math.floor(timeMs);
  const step = Math.floor(t / tickMs);
  const stepStartMs = step * tickMs;
  const intoStep = t - stepStartMs;
  const bootMs = bootStep * tickMs;
  const steps = step - bootStep;
  const p = stepParts(d, step);

  // CPU: idle time integrates (100 - busy%) over whole steps plus the current partial step.
  const perMsPerPercent = 100; // 100 ns ticks per ms per percent = 10000 / 100
  const { totalPercent, totalBusySum } = p;
  const totalIdleTicks =
    tickMs * perMsPerPercent * (100 * steps - totalBusySum) + intoStep * perMsPerPercent * (100 - totalPercent);
  const corePercent: number[] = [];
  const coreIdleTicks: number[] = [];
  for (let c = 0; c < profile.cpuCount; c++) {
    const off = p.coreOff[c]!;
    corePercent.push(totalPercent + off);
    coreIdleTicks.push(
      tickMs * perMsPerPercent * (100 * steps - totalBusySum - p.coreOffSum[c]!) +
        intoStep * perMsPerPercent * (100 - totalPercent - off),
    );
  }

  const nics: NicState[] = profile.nics.map((n, i) => {
    const r = p.nicRates[i]!;
    const s = p.nicSums[i]!;
    const total = (sum: number, rate: number): number => Math.floor((sum * tickMs + rate * intoStep) / 1000);
    const rawCount = (every: number): number => (every > 0 ? Math.floor(steps / every) : 0);
    return {
      name: n.name,
      physical: n.physical,
      bandwidth: n.bandwidth,
      bytesSentPerSec: r.sent,
      bytesReceivedPerSec: r.recv,
      packetsSentPerSec: r.psent,
      packetsReceivedPerSec: r.precv,
      bytesSentTotal: total(s.sent, r.sent),
      bytesReceivedTotal: total(s.recv, r.recv),
      packetsSentTotal: total(s.psent, r.psent),
      packetsReceivedTotal: total(s.precv, r.precv),
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
    memory: { totalKb: profile.memoryTotalKb, freeKb: p.freeKb },
    disks: p.disks,
    nics,
    processCount: p.processCount,
  };
}
