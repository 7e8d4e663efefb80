import { DISCOVERY_RESULT_PART_BYTES, type AgentMessage, type DiscoveredHost } from '../../shared/protocol/index.ts';

type DiscoveryResultMessage = Extract<AgentMessage, { type: 'discovery.result' }>;

/**
 * A discovery's result as the messages that carry it. A result that fits one message is sent as
 * one, exactly as before parts existed (so an older server reads it whole); a larger one (a /16
 * full of Windows hosts) is cut by serialized size, every part but the last marked `more`.
 */
export function discoveryResultParts(
  runId: string,
  res: { scanned: number; total: number; cancelled: boolean; devices: DiscoveredHost[] },
): DiscoveryResultMessage[] {
  const head = {
    type: 'discovery.result' as const,
    run_id: runId,
    scanned: res.scanned,
    total: res.total,
    cancelled: res.cancelled,
  };
  const parts: DiscoveredHost[][] = [[]];
  let bytes = 0;
  for (const host of res.devices) {
    const size = Buffer.byteLength(JSON.stringify(host)) + 1;
    if (bytes + size > DISCOVERY_RESULT_PART_BYTES && parts.at(-1)!.length > 0) {
      parts.push([]);
      bytes = 0;
    }
    parts.at(-1)!.push(host);
    bytes += size;
  }
  return parts.map((devices, i) => ({ ...head, devices, ...(i < parts.length - 1 ? { more: true } : {}) }));
}
