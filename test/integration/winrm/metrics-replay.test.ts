import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createWinrmClient } from '../../../agent/winrm/client.ts';
import { collectWindowsMetrics, collectWindowsMetricsPowerShell } from '../../../agent/winrm/metrics.ts';
import { METRICS_SCRIPT_MARKER } from '../../../agent/winrm/metrics-script.ts';
import { startReplayServer, type ReplayAnswer, type ReplayRequest, type ReplayServer } from './replay-server.ts';

// Synthetic answers in the exact envelope shape Windows uses for `SELECT <props>` (w:XmlFragment);
// no public capture of the PerfFormattedData classes exists (test/fixtures/winrm/SOURCES.md lists what is captured).

function enumerateResponse(req: ReplayRequest, rows: Record<string, string | null>[]): ReplayAnswer {
  const items = rows
    .map((row) => {
      const props = Object.entries(row)
        .map(([k, v]) => (v === null ? `<${k} xsi:nil="true"/>` : `<${k}>${v}</${k}>`))
        .join('');
      return `<w:XmlFragment xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">${props}</w:XmlFragment>`;
    })
    .join('');
  return {
    xml:
      '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">' +
      `<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>uuid:0F1E2D3C-0000-4000-8000-000000000001</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>${req.messageId}</a:RelatesTo></s:Header>` +
      `<s:Body><n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>${items}</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>`,
  };
}

const HOST_ROWS: Record<string, Record<string, string | null>[]> = {
  Win32_PerfFormattedData_PerfOS_Processor: [{ PercentProcessorTime: '42' }],
  Win32_OperatingSystem: [
    { TotalVisibleMemorySize: '16777216', FreePhysicalMemory: '4194304', NumberOfProcesses: '123' },
  ],
  Win32_LogicalDisk: [
    { Size: '107374182400', FreeSpace: '53687091200' },
    { Size: '10995116277760', FreeSpace: '995116277760' },
  ],
  Win32_PerfFormattedData_Tcpip_NetworkInterface: [
    {
      Name: 'Intel[R] Ethernet',
      BytesSentPersec: '125000',
      BytesReceivedPersec: '375000',
      CurrentBandwidth: '1000000000',
      PacketsSentPersec: '100',
      PacketsReceivedPersec: '300',
      PacketsOutboundErrors: '1',
      PacketsReceivedErrors: '0',
      PacketsOutboundDiscarded: '0',
      PacketsReceivedDiscarded: '2',
    },
    {
      Name: 'isatap.{1234}',
      BytesSentPersec: '9',
      BytesReceivedPersec: '9',
      CurrentBandwidth: '100000',
      PacketsSentPersec: '9',
      PacketsReceivedPersec: '9',
      PacketsOutboundErrors: '9',
      PacketsReceivedErrors: '9',
      PacketsOutboundDiscarded: '9',
      PacketsReceivedDiscarded: '9',
    },
  ],
};

let srv: ReplayServer;
before(async () => {
  srv = await startReplayServer({
    https: true,
    handler: (r) => {
      if (r.action === 'Enumerate') {
        const cls = / FROM (\w+)/i.exec(r.xml)?.[1] ?? '';
        return enumerateResponse(r, HOST_ROWS[cls] ?? []);
      }
      return { status: 500, xml: '' };
    },
  });
});
after(() => srv.close());

const client = () =>
  createWinrmClient({
    host: '127.0.0.1',
    port: srv.port,
    https: true,
    auth: 'basic',
    username: 'admin',
    password: 'secret',
    tls: { mode: 'pin', fingerprint: srv.fingerprint },
    maxConnections: 1,
  });

test('collectWindowsMetrics maps WMI to a sample with one round trip per class on a warm connection', async () => {
  const c = client();
  try {
    const first = await collectWindowsMetrics(c);
    assert.deepEqual(
      { ...first, collection_ms: 0 },
      {
        cpu_percent: 42,
        memory_total: 16777216 * 1024,
        memory_used: (16777216 - 4194304) * 1024,
        disk_total: 107374182400 + 10995116277760,
        disk_used: 53687091200 + 10000000000000,
        net_sent_ps: 125000,
        net_recv_ps: 375000,
        net_utilization: 0.4,
        net_bandwidth: 1000000000,
        packets_sent: 100,
        packets_recv: 300,
        net_errors: 1,
        net_dropped: 2,
        process_count: 123,
        collection_ms: 0,
      },
    );
    const before = { ...c.stats };
    const conns = srv.connections();
    const reqs = srv.requests.length;
    await collectWindowsMetrics(c);
    assert.equal(c.stats.roundTrips - before.roundTrips, 4);
    assert.equal(srv.connections(), conns);
    assert.deepEqual(
      srv.requests.slice(reqs).map((r) => r.action),
      ['Enumerate', 'Enumerate', 'Enumerate', 'Enumerate'],
    );
  } finally {
    c.close();
  }
});

test('collectWindowsMetricsPowerShell runs the marked script and reads its JSON line', async () => {
  const line =
    '{"cpu_percent":7,"memory_total":2048,"memory_used":1024,"disk_total":100,"disk_used":50,"net_sent_ps":1,"net_recv_ps":2,"net_utilization":0.5,"packets_sent":3,"packets_recv":4,"net_errors":0,"net_dropped":1,"process_count":55}';
  const ps = await startReplayServer({
    https: false,
    handler: (r) => {
      const env = (action: string, body: string): ReplayAnswer => ({
        xml:
          `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
          `<s:Header><a:Action>${action}</a:Action><a:RelatesTo>${r.messageId}</a:RelatesTo></s:Header><s:Body>${body}</s:Body></s:Envelope>`,
      });
      switch (r.action) {
        case 'Create':
          return env(
            'CreateResponse',
            '<x:ResourceCreated><a:ReferenceParameters><w:SelectorSet><w:Selector Name="ShellId">S1</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>',
          );
        case 'Command': {
          const encoded = /-EncodedCommand<\/rsp:Arguments><rsp:Arguments>([^<]+)</.exec(r.xml)?.[1] ?? '';
          const ok = Buffer.from(encoded, 'base64').toString('utf16le').includes(METRICS_SCRIPT_MARKER);
          return env(
            'CommandResponse',
            `<rsp:CommandResponse><rsp:CommandId>${ok ? 'C1' : 'WRONG'}</rsp:CommandId></rsp:CommandResponse>`,
          );
        }
        case 'Receive': {
          const half = Buffer.from(`${line}\r\n`).toString('base64');
          return env(
            'ReceiveResponse',
            `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C1">${half}</rsp:Stream><rsp:Stream Name="stdout" CommandId="C1" End="true"></rsp:Stream>` +
              '<rsp:CommandState CommandId="C1" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>',
          );
        }
        default:
          return env(`${r.action}Response`, '');
      }
    },
  });
  // A plain-HTTP replay server: Basic without TLS only because the test says unencrypted is fine.
  const c = createWinrmClient({
    host: '127.0.0.1',
    port: ps.port,
    auth: 'basic',
    username: 'admin',
    password: 'secret',
    encryption: 'never',
  });
  try {
    const sample = await collectWindowsMetricsPowerShell(c);
    assert.equal(sample.cpu_percent, 7);
    assert.equal(sample.process_count, 55);
    assert.equal(sample.net_dropped, 1);
    assert.ok(sample.collection_ms >= 0);
    assert.deepEqual(
      ps.requests.map((r) => r.action),
      ['Create', 'Command', 'Receive', 'Signal', 'Delete'],
    );
  } finally {
    c.close();
    await ps.close();
  }
});
