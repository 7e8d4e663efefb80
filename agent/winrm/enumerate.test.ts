import assert from 'node:assert/strict';
import { test, winrmFixture } from '../../test/helpers/fixtures.ts';
import { parseEnumerateResponse } from './enumerate.ts';
import { parseGetResponse } from './get.ts';
import { wmiBigInt, wmiNumber, wmiString } from './wmi-instance.ts';

// Captures are read in place (some are GPL test data that must not be copied into the repo).
const fixture = winrmFixture;

test('Win32_OperatingSystem select * (2003, 2008 R2) reads memory in KB and the process count', () => {
  const cases = [
    [
      'enumerate_win32_operatingsystem_win2003_star_response.xml',
      'AMAZON-9DC6EF03',
      '248048',
      '629200',
      34,
      '2013-04-15T16:28:38.376625Z',
    ],
    [
      'enumerate_win32_operatingsystem_win2008r2_star_response.xml',
      'AMAZONA-Q2R281F',
      '184040',
      '629368',
      42,
      '2013-04-15T16:28:39.5Z',
    ],
  ] as const;
  for (const [file, host, free, total, procs, boot] of cases) {
    const page = parseEnumerateResponse(fixture(file));
    assert.equal(page.items.length, 1);
    assert.equal(page.context, undefined);
    assert.equal(page.endOfSequence, true);
    const os = page.items[0]!;
    assert.equal(os.element, 'Win32_OperatingSystem');
    assert.equal(wmiString(os, 'CSName'), host);
    assert.equal(wmiString(os, 'FreePhysicalMemory'), free);
    assert.equal(wmiString(os, 'TotalVisibleMemorySize'), total);
    assert.equal(wmiNumber(os, 'NumberOfProcesses'), procs);
    assert.equal(wmiString(os, 'LastBootUpTime'), boot);
  }
});

test('Win32_OperatingSystem as w:XmlFragment has unprefixed properties and nil values', () => {
  const page = parseEnumerateResponse(fixture('enumerate_win32_operatingsystem_win2012_xmlfragment_response.xml'));
  assert.equal(page.items.length, 1);
  const os = page.items[0]!;
  assert.equal(os.element, 'XmlFragment');
  assert.equal(wmiString(os, 'Caption'), 'Microsoft Windows Server 2012 Standard');
  assert.equal(wmiString(os, 'CSName'), 'AMAZONA-SDFU7B1');
  assert.equal(wmiString(os, 'FreePhysicalMemory'), '58472');
  assert.equal(wmiString(os, 'TotalVisibleMemorySize'), '629364');
  assert.equal(wmiString(os, 'NumberOfProcesses'), '38');
  assert.equal(
    wmiString(os, 'Name'),
    'Microsoft Windows Server 2012 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2',
  );
  assert.equal(os.properties.CSDVersion, null);
  assert.equal(page.endOfSequence, true);
});

test('Win32_LogicalDisk sizes are bytes and survive beyond 2^32', () => {
  const w2003 = parseEnumerateResponse(fixture('enumerate_win32_logicaldisk_win2003_star_response.xml'));
  assert.deepEqual(
    w2003.items.map((d) => [
      wmiString(d, 'DeviceID'),
      wmiString(d, 'DriveType'),
      wmiString(d, 'FileSystem'),
      wmiBigInt(d, 'FreeSpace'),
      wmiBigInt(d, 'Size'),
    ]),
    [
      ['C:', '3', 'NTFS', 11447885824n, 26841444352n],
      ['D:', '3', 'NTFS', 53588971520n, 53683941376n],
    ],
  );
  const w2012 = parseEnumerateResponse(fixture('enumerate_win32_logicaldisk_win2012_star_response.xml'));
  assert.equal(w2012.items.length, 1);
  assert.equal(wmiBigInt(w2012.items[0], 'FreeSpace'), 7955570688n);
  assert.equal(wmiBigInt(w2012.items[0], 'Size'), 31843151872n);
  assert.equal(w2012.endOfSequence, true);
});

test('Win32_ComputerSystem and Win32_Processor values', () => {
  const cs = parseEnumerateResponse(fixture('enumerate_win32_computersystem_win2012_star_response.xml')).items[0];
  assert.equal(wmiString(cs, 'Name'), 'AMAZONA-SDFU7B1');
  assert.equal(wmiBigInt(cs, 'TotalPhysicalMemory'), 644468736n);
  assert.equal(wmiString(cs, 'Domain'), 'WORKGROUP');
  const cpu = parseEnumerateResponse(fixture('enumerate_win32_processor_win2012_star_response.xml')).items[0];
  assert.equal(wmiNumber(cpu, 'LoadPercentage'), 19);
  assert.equal(wmiNumber(cpu, 'NumberOfCores'), 1);
  assert.equal(wmiNumber(cpu, 'CurrentClockSpeed'), 2113);
});

test('PerfProc_Process pages carry a new context each time and raw counters beyond 2^53', () => {
  const p0 = parseEnumerateResponse(
    fixture('enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page0_response.xml'),
  );
  assert.equal(p0.items.length, 1);
  assert.equal(p0.context, 'uuid:6D1F923E-81AF-4041-8957-49A793641040');
  assert.equal(p0.endOfSequence, false);
  assert.equal(wmiString(p0.items[0], 'Name'), 'Idle');
  assert.equal(wmiBigInt(p0.items[0], 'PercentProcessorTime'), 142220183662n);
  const p1 = parseEnumerateResponse(
    fixture('enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page1_response.xml'),
  );
  assert.equal(p1.items.length, 37);
  assert.equal(p1.context, 'uuid:64368224-8269-4FD5-A8AD-DF482A58279A');
  assert.equal(p1.endOfSequence, false);
  assert.deepEqual(
    p1.items.slice(0, 3).map((i) => wmiString(i, 'Name')),
    ['System', 'smss', 'csrss'],
  );
  const p2 = parseEnumerateResponse(
    fixture('enumerate_win32_perfrawdata_perfproc_process_win2008r2_star_page2_response.xml'),
  );
  assert.equal(p2.items.length, 5);
  assert.equal(p2.context, undefined);
  assert.equal(p2.endOfSequence, true);
  const total = p2.items.find((i) => wmiString(i, 'Name') === '_Total');
  assert.equal(wmiBigInt(total, 'PercentProcessorTime'), 142491001398n);
  assert.equal(wmiBigInt(total, 'WorkingSet'), 411754496n);
  // 130105311790194745 > 2^53: a double would round it.
  assert.equal(wmiBigInt(total, 'Timestamp_Sys100NS'), 130105311790194745n);
});

test('Tcpip_NetworkInterface raw pages give bandwidth and byte counters', () => {
  const p0 = parseEnumerateResponse(
    fixture('enumerate_win32_perfrawdata_tcpip_networkinterface_win2008r2_star_page0_response.xml'),
  );
  assert.equal(p0.context, 'uuid:B078BCF2-C9E6-4214-A3F6-CAD5A5D6D9C9');
  assert.equal(p0.endOfSequence, false);
  const nic = p0.items[0];
  assert.equal(wmiString(nic, 'Name'), 'RedHat PV NIC Driver _2');
  assert.equal(wmiBigInt(nic, 'BytesReceivedPersec'), 912447n);
  assert.equal(wmiBigInt(nic, 'BytesSentPersec'), 3583981n);
  assert.equal(wmiBigInt(nic, 'BytesTotalPersec'), 4496428n);
  assert.equal(wmiBigInt(nic, 'CurrentBandwidth'), 100000000n);
  assert.equal(wmiBigInt(nic, 'Timestamp_Sys100NS'), 130105311753060000n);
  assert.equal(wmiBigInt(nic, 'Frequency_Sys100NS'), 10000000n);
  const p1 = parseEnumerateResponse(
    fixture('enumerate_win32_perfrawdata_tcpip_networkinterface_win2008r2_star_page1_response.xml'),
  );
  assert.equal(p1.context, undefined);
  assert.equal(p1.endOfSequence, true);
  assert.deepEqual(
    p1.items.map((i) => [wmiString(i, 'Name'), wmiString(i, 'CurrentBandwidth')]),
    [
      ['isatap.solutions.loc', '100000'],
      ['Local Area Connection* 11', '100000'],
    ],
  );
});

test('Win32_Process and Win32_Volume paging: context then EndOfSequence', () => {
  const e = parseEnumerateResponse(fixture('enumerate_win32_process_win2008r2_response.xml'));
  assert.equal(e.context, 'uuid:12AE5286-91FE-48F3-937E-0C22FF1AD7A1');
  assert.equal(e.endOfSequence, false);
  assert.deepEqual(
    e.items.map((i) => wmiString(i, 'Name')),
    ['System Idle Process', 'System'],
  );
  const pull = parseEnumerateResponse(fixture('pull_win32_process_win2008r2_end_response.xml'));
  assert.equal(pull.context, undefined);
  assert.equal(pull.endOfSequence, true);
  assert.deepEqual(
    pull.items.map((i) => wmiString(i, 'Name')),
    ['conhost.exe'],
  );
  const v0 = parseEnumerateResponse(fixture('enumerate_win32_volume_win2012_star_page0_response.xml'));
  assert.equal(v0.context, 'uuid:990DC98A-DD52-4467-83BA-764CED445100');
  assert.equal(v0.items[0]!.properties.DriveLetter, null);
  assert.equal(wmiBigInt(v0.items[0], 'Capacity'), 366997504n);
  assert.equal(wmiBigInt(v0.items[0], 'FreeSpace'), 113967104n);
  const v1 = parseEnumerateResponse(fixture('enumerate_win32_volume_win2012_star_page1_response.xml'));
  assert.equal(v1.endOfSequence, true);
  assert.equal(wmiString(v1.items[0], 'DriveLetter'), 'C:');
  assert.equal(wmiBigInt(v1.items[0], 'Capacity'), 31843151872n);
});

test('optimized shell enumeration returns items inline with an empty context', () => {
  const page = parseEnumerateResponse(fixture('enumerate_shells_optimized_response.xml'));
  assert.equal(page.context, undefined);
  assert.equal(page.endOfSequence, true);
  assert.deepEqual(
    page.items.map((i) => [i.element, wmiString(i, 'ShellId'), wmiString(i, 'State'), wmiString(i, 'MemoryUsed')]),
    [
      ['Shell', 'B6631D8E-65A0-49F2-9053-A1B156C95777', 'Disconnected', '46MB'],
      ['Shell', '01AA3E43-9E21-424B-A7FC-BC16AA34F4CE', 'Disconnected', '46MB'],
    ],
  );
});

test('Get of one Win32_LogicalDisk instance', () => {
  const disk = parseGetResponse(fixture('get_win32_logicaldisk_response.xml'));
  assert.equal(disk.element, 'Win32_LogicalDisk');
  assert.equal(wmiString(disk, 'DeviceID'), 'c:');
  assert.equal(wmiString(disk, 'SystemName'), 'HYPERB');
  assert.equal(wmiBigInt(disk, 'FreeSpace'), 840649814016n);
  assert.equal(wmiBigInt(disk, 'Size'), 999650488320n);
  assert.equal(disk.properties.Availability, null);
});
