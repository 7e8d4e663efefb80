import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import {
  basic,
  commandXml,
  count,
  createShellXml,
  deleteShellXml,
  enumerateXml,
  envelope,
  identifyXml,
  post,
  pullXml,
  receiveXml,
  streamText,
  text,
} from './wsman-raw.ts';

const FROZEN = Date.UTC(2026, 10, 23, 12, 0, 0);
let now = FROZEN;

describe('winsim over raw HTTP', () => {
  let sim: Winsim;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  before(async () => {
    sim = await startWinsim({
      hosts: 3,
      portBase: 0,
      auth: 'both',
      seed: 7,
      clock: () => now,
      faults: { unencryptedRefused: false },
      maxShellsPerHost: 3,
    });
  });
  after(async () => {
    agent.destroy();
    await sim.stop();
  });
  const host = (i = 0) => sim.hosts[i]!;
  const auth = (i = 0) => basic(host(i).user, host(i).password);

  test('GET /wsman answers 405 with Allow: POST', async () => {
    const res = await post(host().url, '', { method: 'GET' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
    assert.equal(res.headers.server, 'Microsoft-HTTPAPI/2.0');
  });

  test('an unauthenticated POST gets 401 with one WWW-Authenticate line per scheme and an empty body', async () => {
    const res = await post(host().url, enumerateXml('SELECT * FROM Win32_OperatingSystem'));
    assert.equal(res.status, 401);
    assert.equal(res.body, '');
    assert.equal(res.headers['www-authenticate'], 'Negotiate, Kerberos, Basic realm="WSMAN"');
    assert.equal(res.headers.connection, 'close');
  });

  test('anonymous Identify reports a zeroed OS version; authenticated Identify the real one', async () => {
    const anon = await post(host().url, identifyXml, { headers: { WSMANIDENTIFY: 'unauthenticated' } });
    assert.equal(anon.status, 200);
    assert.equal(text(anon.body, 'ProductVendor'), 'Microsoft Corporation');
    assert.equal(text(anon.body, 'ProductVersion'), 'OS: 0.0.0 SP: 0.0 Stack: 3.0');
    const authed = await post(host(1).url, identifyXml, { headers: auth(1), agent });
    assert.equal(authed.status, 200);
    assert.equal(text(authed.body, 'ProductVersion'), `OS: ${host(1).sim.profile.os.version} SP: 0.0 Stack: 3.0`);
  });

  test('a Basic enumerate of Win32_OperatingSystem returns a typed item with the true values inline', async () => {
    const res = await post(
      host().url,
      enumerateXml('SELECT * FROM Win32_OperatingSystem', { maxElements: 32000, messageId: 'uuid:AAAA-1' }),
      { headers: auth(), agent },
    );
    assert.equal(res.status, 200);
    const t = host().truth();
    assert.match(res.body, /<a:RelatesTo>uuid:AAAA-1<\/a:RelatesTo>/);
    assert.match(res.body, /<p:Win32_OperatingSystem [^>]*xsi:type="p:Win32_OperatingSystem_Type">/);
    assert.equal(text(res.body, 'EnumerationContext'), '');
    assert.match(res.body, /<w:EndOfSequence\/>/);
    assert.equal(text(res.body, 'p:CSName'), host().hostname);
    assert.equal(Number(text(res.body, 'p:TotalVisibleMemorySize')), t.memoryTotalKb);
    assert.equal(Number(text(res.body, 'p:FreePhysicalMemory')), t.memoryFreeKb);
    assert.equal(Number(text(res.body, 'p:NumberOfProcesses')), t.processCount);
    assert.match(res.body, /<p:CSDVersion xsi:nil="true"\/>/);
    assert.match(
      res.body,
      /<p:LastBootUpTime><cim:Datetime>\d{4}-\d\d-\d\dT[^<]+Z<\/cim:Datetime><\/p:LastBootUpTime>/,
    );
  });

  test('a property list gives XmlFragment items and the DriveType filter keeps fixed disks only', async () => {
    const res = await post(
      host(2).url,
      enumerateXml('SELECT DeviceID,Size,FreeSpace FROM Win32_LogicalDisk WHERE DriveType=3', { maxElements: 100 }),
      { headers: auth(2), agent },
    );
    assert.equal(res.status, 200);
    const fixed = host(2)
      .truth()
      .disks.filter((d) => d.driveType === 3);
    assert.equal(count(res.body, /<w:XmlFragment /), fixed.length);
    for (const d of fixed)
      assert.match(
        res.body,
        new RegExp(
          `<DeviceID>${d.deviceId}</DeviceID><FreeSpace>${d.freeBytes}</FreeSpace><Size>${d.sizeBytes}</Size>`,
        ),
      );
  });

  test('paging: Enumerate then Pull with the latest context until EndOfSequence returns every process once', async () => {
    const expected = host().truth().processCount;
    let res = await post(host().url, enumerateXml('SELECT Name,ProcessId FROM Win32_Process', { maxElements: 20 }), {
      headers: auth(),
      agent,
    });
    assert.equal(res.status, 200);
    let items = count(res.body, /<w:XmlFragment /);
    assert.equal(items, 20);
    let ctx = text(res.body, 'EnumerationContext')!;
    assert.match(ctx, /^uuid:[0-9A-F-]{36}$/);
    const seen = new Set([ctx]);
    let pages = 1;
    const first = ctx;
    for (;;) {
      res = await post(host().url, pullXml(ctx, 20), { headers: auth(), agent });
      assert.equal(res.status, 200);
      assert.match(res.body, /<n:PullResponse>/);
      items += count(res.body, /<w:XmlFragment /);
      pages++;
      if (/<n:EndOfSequence\/>/.test(res.body)) {
        assert.equal(text(res.body, 'EnumerationContext'), undefined);
        break;
      }
      ctx = text(res.body, 'EnumerationContext')!;
      assert.ok(!seen.has(ctx), 'each Pull returns a new context');
      seen.add(ctx);
    }
    // The host's process count moves every step: the enumeration holds the count of the step it started in.
    const after = host().truth().processCount;
    assert.ok(
      items === expected || items === after,
      `items ${items} is the process count when the enumeration began (${expected}, or ${after} after a step boundary)`,
    );
    assert.equal(pages, Math.ceil(items / 20));
    const stale = await post(host().url, pullXml(first), { headers: auth(), agent });
    assert.equal(stale.status, 500);
    assert.match(stale.body, /Code="2150858779"/);
  });

  test('without OptimizeEnumeration the first answer is a context only', async () => {
    const res = await post(host().url, enumerateXml('SELECT * FROM Win32_Processor', { optimize: false }), {
      headers: auth(),
      agent,
    });
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.body, /Items/);
    const pull = await post(host().url, pullXml(text(res.body, 'EnumerationContext')!), { headers: auth(), agent });
    assert.match(pull.body, /<p:LoadPercentage>(\d+)<\/p:LoadPercentage>/);
    assert.equal(Number(text(pull.body, 'p:LoadPercentage')), host().truth().cpuPercent);
  });

  test('an unknown class is the real CannotProcessFilter fault 2150858778 with HTTP 500', async () => {
    const res = await post(host().url, enumerateXml('SELECT * FROM Win32_Processa'), { headers: auth(), agent });
    assert.equal(res.status, 500);
    assert.match(res.body, /<s:Value>n:CannotProcessFilter<\/s:Value>/);
    assert.match(
      res.body,
      /<f:WSManFault xmlns:f="http:\/\/schemas.microsoft.com\/wbem\/wsman\/1\/wsmanfault" Code="2150858778"/,
    );
    assert.match(res.body, /<p:ParameterInfo>SELECT \* FROM Win32_Processa<\/p:ParameterInfo>/);
  });

  test('PerfFormatted gives the true CPU percent and two PerfRaw samples give it back from counters', async () => {
    const res = await post(
      host().url,
      enumerateXml(
        "SELECT Name,PercentProcessorTime FROM Win32_PerfFormattedData_PerfOS_Processor WHERE Name='_Total'",
        { maxElements: 10 },
      ),
      { headers: auth(), agent },
    );
    assert.equal(count(res.body, /<w:XmlFragment /), 1);
    const t = host().truth();
    assert.equal(Number(text(res.body, 'PercentProcessorTime')), t.cpuPercent);
    const rawQuery = enumerateXml(
      "SELECT PercentProcessorTime,Timestamp_Sys100NS FROM Win32_PerfRawData_PerfOS_Processor WHERE Name='_Total'",
      { maxElements: 10 },
    );
    const nicQuery = enumerateXml(
      'SELECT Name,BytesSentPersec,Timestamp_Sys100NS FROM Win32_PerfRawData_Tcpip_NetworkInterface',
      { maxElements: 10 },
    );
    const sample = async () => {
      const cpu = await post(host().url, rawQuery, { headers: auth(), agent });
      const nic = await post(host().url, nicQuery, { headers: auth(), agent });
      return {
        idle: BigInt(text(cpu.body, 'PercentProcessorTime')!),
        ts: BigInt(text(cpu.body, 'Timestamp_Sys100NS')!),
        sent: BigInt(text(nic.body, 'BytesSentPersec')!),
      };
    };
    const a = await sample();
    now += 2000;
    try {
      const b = await sample();
      const dt = Number(b.ts - a.ts);
      assert.equal(dt, 20_000_000);
      assert.equal(Math.round(100 * (1 - Number(b.idle - a.idle) / dt)), t.cpuPercent);
      const perSec = Number(b.sent - a.sent) / (dt / 1e7);
      assert.ok(
        Math.abs(perSec - t.interfaces[0]!.bytesSentPerSec) <= 1,
        `${perSec} vs ${t.interfaces[0]!.bytesSentPerSec}`,
      );
    } finally {
      now = FROZEN;
    }
  });

  test('Get returns one instance by selector, and an unknown instance is fault 2150858752', async () => {
    const get = (selectors: Record<string, string>) =>
      envelope({
        action: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Get',
        resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_LogicalDisk',
        selectors,
        body: '',
      });
    const res = await post(host().url, get({ DeviceID: 'C:' }), { headers: auth(), agent });
    assert.equal(res.status, 200);
    assert.match(res.body, /transfer\/GetResponse/);
    const c = host()
      .truth()
      .disks.find((d) => d.deviceId === 'C:')!;
    assert.equal(Number(text(res.body, 'p:Size')), c.sizeBytes);
    const missing = await post(host().url, get({ DeviceID: 'Q:' }), { headers: auth(), agent });
    assert.equal(missing.status, 500);
    assert.match(missing.body, /Code="2150858752"/);
  });

  test('Release drops an open enumeration; WQL LIKE and AND filter rows', async () => {
    const res = await post(
      host().url,
      enumerateXml("SELECT Name,State FROM Win32_Service WHERE Name LIKE 'Win%' AND State = 'Running'", {
        maxElements: 1,
      }),
      { headers: auth(), agent },
    );
    assert.equal(res.status, 200);
    const names = host().sim.profile.services.filter((sv) => /^win/i.test(sv.name) && sv.state === 'Running');
    assert.ok(names.length >= 2);
    const ctx = text(res.body, 'EnumerationContext')!;
    const before = host().sim.openEnumerations;
    const rel = await post(
      host().url,
      envelope({
        action: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release',
        resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*',
        body: `<n:Release><n:EnumerationContext>${ctx}</n:EnumerationContext></n:Release>`,
      }),
      { headers: auth(), agent },
    );
    assert.equal(rel.status, 200);
    assert.equal(host().sim.openEnumerations, before - 1);
    const pull = await post(host().url, pullXml(ctx), { headers: auth(), agent });
    assert.equal(pull.status, 500);
  });

  test('a shell runs hostname, echo and exit, and rejects unknown commands like cmd.exe', async () => {
    const h = host(1);
    const created = await post(h.url, createShellXml(), { headers: auth(1), agent });
    assert.equal(created.status, 200);
    const shellId = /<w:Selector Name="ShellId">([^<]+)</.exec(created.body)![1]!;
    assert.match(created.body, new RegExp(`<rsp:Owner>${h.user}</rsp:Owner>`));
    const run = async (cmd: string, args: string[] = []) => {
      const c = await post(h.url, commandXml(shellId, cmd, args), { headers: auth(1), agent });
      assert.equal(c.status, 200);
      const id = text(c.body, 'rsp:CommandId')!;
      const r = await post(h.url, receiveXml(shellId, id), { headers: auth(1), agent });
      assert.equal(r.status, 200);
      assert.match(r.body, /CommandState\/Done/);
      return {
        stdout: streamText(r.body, 'stdout'),
        stderr: streamText(r.body, 'stderr'),
        exit: Number(text(r.body, 'rsp:ExitCode')),
      };
    };
    assert.deepEqual(await run('hostname'), { stdout: `${h.hostname}\r\n`, stderr: '', exit: 0 });
    assert.deepEqual(await run('echo', ['hello', 'world']), { stdout: 'hello world\r\n', stderr: '', exit: 0 });
    assert.deepEqual(await run('exit', ['7']), { stdout: '', stderr: '', exit: 7 });
    assert.deepEqual(await run('ipconfig', ['/all']), {
      stdout: '',
      stderr: "'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
      exit: 1,
    });
    const del = await post(h.url, deleteShellXml(shellId), { headers: auth(1), agent });
    assert.equal(del.status, 200);
    const gone = await post(h.url, commandXml(shellId, 'hostname'), { headers: auth(1), agent });
    assert.equal(gone.status, 500);
    assert.match(gone.body, /Code="2150858843"/);
  });

  test('the metrics script through powershell -EncodedCommand prints the true sample as JSON', async () => {
    const h = host(2);
    const created = await post(h.url, createShellXml(), { headers: auth(2), agent });
    const shellId = /<w:Selector Name="ShellId">([^<]+)</.exec(created.body)![1]!;
    const script = "$ProgressPreference = 'SilentlyContinue'\n# nmslite-metrics-v1\n'{}'";
    const enc = Buffer.from(script, 'utf16le').toString('base64');
    const c = await post(
      h.url,
      commandXml(shellId, `powershell.exe -NoProfile -NonInteractive -EncodedCommand ${enc}`),
      { headers: auth(2), agent },
    );
    const r = await post(h.url, receiveXml(shellId, text(c.body, 'rsp:CommandId')!), { headers: auth(2), agent });
    assert.equal(Number(text(r.body, 'rsp:ExitCode')), 0);
    assert.deepEqual(JSON.parse(streamText(r.body, 'stdout')), h.truth().sample);
    await post(h.url, deleteShellXml(shellId), { headers: auth(2), agent });
  });

  test('powershell reading its script from stdin runs it once Send delivers End="true"', async () => {
    const h = host(2);
    const created = await post(h.url, createShellXml(), { headers: auth(2), agent });
    const shellId = /<w:Selector Name="ShellId">([^<]+)</.exec(created.body)![1]!;
    const c = await post(h.url, commandXml(shellId, 'powershell.exe', ['-NoProfile', '-']), {
      headers: auth(2),
      agent,
    });
    const id = text(c.body, 'rsp:CommandId')!;
    const send = (data: string, end: boolean) =>
      envelope({
        action: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send',
        resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd',
        selectors: { ShellId: shellId },
        body: `<rsp:Send><rsp:Stream Name="stdin" CommandId="${id}"${end ? ' End="true"' : ''}>${Buffer.from(data).toString('base64')}</rsp:Stream></rsp:Send>`,
      });
    const early = await post(h.url, receiveXml(shellId, id, 'PT0.1S'), { headers: auth(2), agent });
    assert.equal(early.status, 500, 'nothing to receive before the script arrives');
    assert.match(early.body, /Code="2150858793"/);
    assert.equal((await post(h.url, send("Write-Output 'one'\r\n", false), { headers: auth(2), agent })).status, 200);
    const sent = await post(h.url, send("Write-Output 'two'\r\nexit 3\r\n", true), { headers: auth(2), agent });
    assert.match(sent.body, /<rsp:SendResponse\/>/);
    const r = await post(h.url, receiveXml(shellId, id), { headers: auth(2), agent });
    assert.equal(streamText(r.body, 'stdout'), 'one\ntwo\n');
    assert.equal(Number(text(r.body, 'rsp:ExitCode')), 3);
    await post(h.url, deleteShellXml(shellId), { headers: auth(2), agent });
  });

  test('Receive answers the OperationTimeout fault 2150858793 while a command runs, then its output', async () => {
    const h = host(0);
    await h.setFault({ commandDelayMs: 700 });
    try {
      const created = await post(h.url, createShellXml(), { headers: auth(), agent });
      const shellId = /<w:Selector Name="ShellId">([^<]+)</.exec(created.body)![1]!;
      const c = await post(h.url, commandXml(shellId, 'echo', ['late']), { headers: auth(), agent });
      const id = text(c.body, 'rsp:CommandId')!;
      const first = await post(h.url, receiveXml(shellId, id, 'PT0.2S'), { headers: auth(), agent });
      assert.equal(first.status, 500);
      assert.match(first.body, /<s:Value>w:TimedOut<\/s:Value>/);
      assert.match(first.body, /Code="2150858793"/);
      const second = await post(h.url, receiveXml(shellId, id, 'PT5S'), { headers: auth(), agent });
      assert.equal(second.status, 200);
      assert.equal(streamText(second.body, 'stdout'), 'late\r\n');
      await post(h.url, deleteShellXml(shellId), { headers: auth(), agent });
    } finally {
      await h.setFault({ commandDelayMs: 0 });
    }
  });

  test('more shells than the per-host limit give the quota fault 2150859173', async () => {
    const h = host(0);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(h.url, createShellXml(), { headers: auth(), agent });
      assert.equal(r.status, 200);
      ids.push(/<w:Selector Name="ShellId">([^<]+)</.exec(r.body)![1]!);
    }
    const over = await post(h.url, createShellXml(), { headers: auth(), agent });
    assert.equal(over.status, 500);
    assert.match(over.body, /<s:Value>w:QuotaLimit<\/s:Value>/);
    assert.match(over.body, /<p:error_Code xsi:type="cim:cimUnsignedInt">2150859173<\/p:error_Code>/);
    for (const id of ids) await post(h.url, deleteShellXml(id), { headers: auth(), agent });
  });
});

test('distinct addresses: each host listens on its own 127.x address and the same port', async () => {
  const sim = await startWinsim({
    hosts: 3,
    bind: '127.0.3.10',
    distinctAddresses: true,
    portBase: 25985,
    auth: 'basic',
  });
  try {
    assert.deepEqual(
      sim.hosts.map((h) => h.address),
      ['127.0.3.10', '127.0.3.11', '127.0.3.12'],
    );
    for (const h of sim.hosts) {
      assert.equal(h.port, 25985);
      const res = await post(h.url, enumerateXml('SELECT CSName FROM Win32_OperatingSystem', { maxElements: 5 }), {
        headers: basic(h.user, h.password),
      });
      assert.equal(text(res.body, 'CSName'), h.hostname);
    }
  } finally {
    await sim.stop();
  }
});
