/**
 * Public surface of the WinRM client for the rest of the agent (collectors, discovery). Its errors
 * are ClassifiedErrors (agent/failure.ts); the classes are in errors.ts for tests that tell them apart.
 * Everything else in this folder is an implementation detail.
 */
export { createWinrmClient, WinrmClientOptions, type WinrmClient } from './client.ts';
export { WinrmConnectError, WinrmAuthError, WinrmAccessDeniedError, WinrmFaultError } from './errors.ts';
export { collectWindowsMetrics, collectWindowsMetricsPowerShell } from './metrics.ts';
export type { IdentifyResult } from './identify.ts';
export { probeNtlmTarget, type NtlmTarget } from './ntlm-probe.ts';
export { wmiString } from './wmi-instance.ts';
