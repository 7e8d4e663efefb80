import assert from 'node:assert/strict';
import { test, winrmFixture } from '../../test/helpers/fixtures.ts';
import { parseEnumerateResponse } from './enumerate.ts';
import {
  cpuFromInstances,
  diskFromInstances,
  memoryFromInstances,
  networkFromInstances,
  parseMetricsScriptOutput,
} from './metrics.ts';
import { METRICS_SCRIPT, METRICS_SCRIPT_MARKER } from './metrics-script.ts';
import { WinrmFaultError } from './errors.ts';
import type { WmiInstance } from './wmi-instance.ts';

const items = (name: string) => parseEnumerateResponse(winrmFixture(name)).items;
const frag = (properties: Record<string, string | null>): WmiInstance => ({ element: 'XmlFragment', properties });

test('memory: KB from Win32_OperatingSystem become bytes', () => {
  assert.deepEqual(memoryFromInstances(items('enumerate_win32_operatingsystem_win2008r2_star_response.xml')), {
    memory_total: 629368 * 1024,
    memory_used: (629368 - 184040) * 1024,
    process_count: 42,
  });
});

test('disk: fixed drives summed in bytes', () => {
  assert.deepEqual(diskFromInstances(items('enumerate_win32_logicaldisk_win2003_star_response.xml')), {
    disk_total: 26841444352 + 53683941376,
    disk_used: 26841444352 - 11447885824 + (53683941376 - 53588971520),
  });
  assert.deepEqual(diskFromInstances([frag({ Size: null, FreeSpace: null })]), { disk_total: null, disk_used: null });
});

test('cpu: formatted _Total first, then the average LoadPercentage', () => {
  assert.equal(cpuFromInstances([frag({ PercentProcessorTime: '37' })], undefined), 37);
  assert.equal(cpuFromInstances([], items('enumerate_win32_processor_win2012_star_response.xml')), 19);
  assert.equal(cpuFromInstances(undefined, [frag({ LoadPercentage: '10' }), frag({ LoadPercentage: '30' })]), 20);
  assert.equal(cpuFromInstances(undefined, undefined), null);
});

test('network: physical interfaces only, utilization against CurrentBandwidth bits/s', () => {
  const net = networkFromInstances([
    frag({
      Name: 'Intel[R] 82574L',
      BytesSentPersec: '1000000',
      BytesReceivedPersec: '250000',
      CurrentBandwidth: '1000000000',
      PacketsSentPersec: '900',
      PacketsReceivedPersec: '800',
      PacketsOutboundErrors: '1',
      PacketsReceivedErrors: '2',
      PacketsOutboundDiscarded: '3',
      PacketsReceivedDiscarded: '4',
    }),
    frag({
      Name: 'isatap.corp.local',
      BytesSentPersec: '5',
      BytesReceivedPersec: '5',
      CurrentBandwidth: '100000',
      PacketsSentPersec: '1',
      PacketsReceivedPersec: '1',
      PacketsOutboundErrors: '0',
      PacketsReceivedErrors: '0',
      PacketsOutboundDiscarded: '0',
      PacketsReceivedDiscarded: '0',
    }),
  ]);
  assert.deepEqual(net, {
    net_sent_ps: 1000000,
    net_recv_ps: 250000,
    net_utilization: 1,
    net_bandwidth: 1000000000,
    packets_sent: 900,
    packets_recv: 800,
    net_errors: 3,
    net_dropped: 7,
  });
  assert.equal(networkFromInstances([]).net_sent_ps, null);
});

test('the PowerShell script carries its marker and its JSON output is validated', () => {
  assert.ok(METRICS_SCRIPT.includes(METRICS_SCRIPT_MARKER));
  const line =
    '{"cpu_percent":12.5,"memory_total":1024,"memory_used":512,"disk_total":10,"disk_used":5,"net_sent_ps":1,"net_recv_ps":2,"net_utilization":0.1,"packets_sent":3,"packets_recv":4,"net_errors":0,"net_dropped":0,"process_count":77}';
  assert.equal(parseMetricsScriptOutput(`noise\r\n${line}\r\n`).process_count, 77);
  assert.throws(() => parseMetricsScriptOutput('nothing here'), WinrmFaultError);
  assert.throws(() => parseMetricsScriptOutput(line.replace('12.5', '"x"')), WinrmFaultError);
});
