import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_MESSAGE_BYTES, parseAgentMessage } from '../../shared/protocol/index.ts';
import { discoveryResultParts } from './result-parts.ts';

const host = (i: number) => ({
  ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  port: 5985,
  use_ssl: false,
  hostname: `WIN-${String(i).padStart(8, '0')}`,
  os: 'Microsoft Windows Server 2022 Datacenter',
  os_version: '10.0.20348',
  winrm_stack: '3.0',
});

test('a /16 full of Windows hosts travels in parts that each fit a message and pass the protocol schema', () => {
  const devices = Array.from({ length: 65_000 }, (_, i) => host(i));
  assert.ok(
    Buffer.byteLength(JSON.stringify(devices)) > MAX_MESSAGE_BYTES,
    'the whole result would not fit one message',
  );
  const parts = discoveryResultParts('run-1', { scanned: 65_536, total: 65_536, cancelled: false, devices });
  assert.ok(parts.length >= 3 && parts.length <= 6, `a few parts (${parts.length})`);
  for (const [i, p] of parts.entries()) {
    const raw = JSON.stringify(p);
    assert.ok(Buffer.byteLength(raw) < MAX_MESSAGE_BYTES, `part ${i} fits`);
    const parsed = parseAgentMessage(raw);
    assert.ok(parsed.ok, `part ${i} is a valid message: ${parsed.ok ? '' : parsed.reason}`);
    assert.equal(p.more, i < parts.length - 1 ? true : undefined, `part ${i} more flag`);
  }
  assert.deepEqual(
    parts.flatMap((p) => p.devices),
    devices,
    'every host once, in order',
  );
});

test('an empty result, or one that fits a message (15,000 hosts), is one part without "more", as older servers expect', () => {
  assert.equal(
    discoveryResultParts('r', {
      scanned: 65_536,
      total: 65_536,
      cancelled: false,
      devices: Array.from({ length: 15_000 }, (_, i) => host(i)),
    }).length,
    1,
    '15,000 hosts in one message',
  );
  assert.deepEqual(discoveryResultParts('r', { scanned: 254, total: 254, cancelled: true, devices: [] }), [
    { type: 'discovery.result', run_id: 'r', scanned: 254, total: 254, cancelled: true, devices: [] },
  ]);
  assert.equal(
    discoveryResultParts('r', { scanned: 1, total: 1, cancelled: false, devices: [host(1)] }).length,
    1,
    'one part',
  );
});
