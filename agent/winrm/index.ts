/**
 * Public surface of the WinRM client for the rest of the agent (collectors, discovery).
 * Everything else in this folder is an implementation detail.
 */
export { createWinrmClient, WinrmClientOptions, type WinrmClient } from './client.ts';
export {
  WinrmError,
  WinrmConnectError,
  WinrmTlsError,
  WinrmAuthError,
  WinrmAccessDeniedError,
  WinrmTimeoutError,
  WinrmQuotaError,
  WinrmInvalidClassError,
  WinrmFaultError,
} from './errors.ts';
export { collectWindowsMetrics, collectWindowsMetricsPowerShell, METRIC_QUERIES } from './metrics.ts';
export { METRICS_SCRIPT, METRICS_SCRIPT_MARKER } from './metrics-script.ts';
export { certificateFingerprint, type TlsMode } from './http-connection.ts';
export type { IdentifyResult } from './identify.ts';
export { probeNtlmTarget, type NtlmTarget } from './ntlm-probe.ts';
export type { EnumerateOptions } from './enumerate.ts';
export type { CommandResult } from './shell.ts';
export { wmiBigInt, wmiNumber, wmiString, type WmiInstance, type WmiValue } from './wmi-instance.ts';
