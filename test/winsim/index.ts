// Public surface of the Windows host simulator (tests, benchmarks, `npm run winsim`).
export { startWinsim, WinsimOptions, DEFAULT_METRICS_MARKER, type Winsim, type WinsimHost } from './start-winsim.ts';
export type { HostFaults, AuthMode } from './sim-host.ts';
export type { HostTruth } from './host-truth.ts';
export type { InjectedFault } from './soap-response.ts';
