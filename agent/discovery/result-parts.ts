import { DISCOVERY_RESULT_CHUNK, type AgentMessage, type DiscoveredHost } from '../../shared/protocol/index.ts';

type DiscoveryResultMessage = Extract<AgentMessage, { type: 'discovery.result' }>;

/**
 * A discovery's result as the messages that carry it: one part per DISCOVERY_RESULT_CHUNK hosts
 * (a /16 full of Windows hosts would not fit one message), every part but the last marked `more`.
 */
export function discoveryResultParts(
  runId: string,
  res: { scanned: number; total: number; cancelled: boolean; devices: DiscoveredHost[] },
): DiscoveryResultMessage[] {
  const parts: DiscoveryResultMessage[] = [];
  for (let i = 0; i === 0 || i < res.devices.length; i += DISCOVERY_RESULT_CHUNK) {
    const more = i + DISCOVERY_RESULT_CHUNK < res.devices.length;
    parts.push({ type: 'discovery.result', run_id: runId, scanned: res.scanned, total: res.total, cancelled: res.cancelled, devices: res.devices.slice(i, i + DISCOVERY_RESULT_CHUNK), ...(more ? { more } : {}) });
  }
  return parts;
}
