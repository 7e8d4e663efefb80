import { hash32, keyId, pick, rand01, randInt } from './prng.ts';

/** What never changes on a simulated host: identity, hardware, installed software. */
export interface HostProfile {
  index: number;
  seed: number;
  hostname: string;
  os: OsRelease;
  caption: string;
  serialNumber: string;
  cpuCount: number;
  cpuName: string;
  cpuClockMhz: number;
  manufacturer: string;
  model: string;
  memoryTotalKb: number;
  /** Win32_ComputerSystem.TotalPhysicalMemory is a little above what the OS can see. */
  physicalMemoryBytes: number;
  disks: DiskProfile[];
  nics: NicProfile[];
  processBase: number;
  uptimeSeconds: number;
  services: ServiceProfile[];
}

export interface OsRelease {
  name: '2012 R2' | '2016' | '2019' | '2022';
  version: string;
  build: number;
  /** WS-Man stack version in Identify. */
  stack: string;
}

export interface DiskProfile {
  deviceId: string;
  /** 3 = local fixed disk, 5 = CD-ROM (nil sizes). */
  driveType: 3 | 5;
  sizeBytes: number | null;
  fileSystem: string | null;
  volumeName: string;
  serial: string;
  freeFraction: number;
}

export interface NicProfile {
  name: string;
  physical: boolean;
  bandwidth: number;
  sentBase: number;
  recvBase: number;
  packetSize: number;
  errorEvery: number;
  discardEvery: number;
}

export interface ServiceProfile {
  name: string;
  displayName: string;
  state: 'Running' | 'Stopped';
  startMode: 'Auto' | 'Manual' | 'Disabled';
  processId: number;
  pathName: string;
}

const OS_RELEASES: readonly OsRelease[] = [
  { name: '2012 R2', version: '6.3.9600', build: 9600, stack: '3.0' },
  { name: '2016', version: '10.0.14393', build: 14393, stack: '3.0' },
  { name: '2019', version: '10.0.17763', build: 17763, stack: '3.0' },
  { name: '2022', version: '10.0.20348', build: 20348, stack: '3.0' },
];

const PLATFORMS = [
  { manufacturer: 'Microsoft Corporation', model: 'Virtual Machine', nic: 'Microsoft Hyper-V Network Adapter' },
  { manufacturer: 'VMware, Inc.', model: 'VMware7,1', nic: 'vmxnet3 Ethernet Adapter' },
  { manufacturer: 'Dell Inc.', model: 'PowerEdge R640', nic: 'Intel[R] Ethernet Controller X710 for 10GbE SFP+' },
  { manufacturer: 'HPE', model: 'ProLiant DL380 Gen10', nic: 'HPE Ethernet 1Gb 4-port 331i Adapter' },
] as const;

const CPU_NAMES = [
  'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz',
  'Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz',
  'AMD EPYC 7302 16-Core Processor',
  'Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz',
] as const;

const SERVICES: readonly [string, string, 'Auto' | 'Manual' | 'Disabled', string][] = [
  ['BITS', 'Background Intelligent Transfer Service', 'Manual', 'C:\\Windows\\System32\\svchost.exe -k netsvcs -p'],
  ['Dhcp', 'DHCP Client', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k LocalServiceNetworkRestricted -p'],
  ['Dnscache', 'DNS Client', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k NetworkService -p'],
  ['EventLog', 'Windows Event Log', 'Auto', 'C:\\Windows\\System32\\svchost.exe -k LocalServiceNetworkRestricted -p'],
  ['LanmanServer', 'Server', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p'],
  ['LanmanWorkstation', 'Workstation', 'Auto', 'C:\\Windows\\System32\\svchost.exe -k NetworkService -p'],
  [
    'MpsSvc',
    'Windows Defender Firewall',
    'Auto',
    'C:\\Windows\\system32\\svchost.exe -k LocalServiceNoNetworkFirewall -p',
  ],
  ['RpcSs', 'Remote Procedure Call (RPC)', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k rpcss -p'],
  ['Schedule', 'Task Scheduler', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p'],
  ['Spooler', 'Print Spooler', 'Auto', 'C:\\Windows\\System32\\spoolsv.exe'],
  ['TermService', 'Remote Desktop Services', 'Manual', 'C:\\Windows\\System32\\svchost.exe -k NetworkService'],
  ['W32Time', 'Windows Time', 'Manual', 'C:\\Windows\\system32\\svchost.exe -k LocalService'],
  [
    'WinRM',
    'Windows Remote Management (WS-Management)',
    'Auto',
    'C:\\Windows\\System32\\svchost.exe -k NetworkService -p',
  ],
  ['Winmgmt', 'Windows Management Instrumentation', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p'],
  ['wuauserv', 'Windows Update', 'Manual', 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p'],
  [
    'MSSQLSERVER',
    'SQL Server (MSSQLSERVER)',
    'Auto',
    '"C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe" -sMSSQLSERVER',
  ],
  ['W3SVC', 'World Wide Web Publishing Service', 'Auto', 'C:\\Windows\\system32\\svchost.exe -k iissvcs'],
  ['RemoteRegistry', 'Remote Registry', 'Disabled', 'C:\\Windows\\system32\\svchost.exe -k localService -p'],
];

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const GIB = 1024 * 1024 * 1024;

/** Builds host number `index` of a fleet; the same (seed, index) always gives the same host. */
export function createHostProfile(seed: number, index: number, osOverride?: OsRelease['name']): HostProfile {
  const h = (key: string, ...more: number[]): number[] => [seed, index, keyId(key), ...more];
  let tag = '';
  for (let i = 0; i < 7; i++) tag += ALNUM[hash32(...h('hostname', i)) % ALNUM.length];
  const hostname = `WIN-${tag}${index.toString(36).toUpperCase().padStart(4, '0')}`;
  const os = osOverride
    ? OS_RELEASES.find((r) => r.name === osOverride)!
    : (OS_RELEASES[index % OS_RELEASES.length] as OsRelease);
  const edition = rand01(...h('edition')) < 0.6 ? 'Standard' : 'Datacenter';
  const platform = pick(PLATFORMS, ...h('platform'));
  const cpuCount = pick([2, 4, 8, 16] as const, ...h('cpus'));
  const memGb = pick([4, 8, 16, 32, 64] as const, ...h('mem'));
  const memoryTotalKb = memGb * 1024 * 1024 - randInt(8, 64, ...h('memreserved')) * 1024;

  const disks: DiskProfile[] = [
    {
      deviceId: 'C:',
      driveType: 3,
      sizeBytes: pick([60, 80, 100, 127, 250] as const, ...h('csize')) * GIB - 524288000,
      fileSystem: 'NTFS',
      volumeName: '',
      serial: hash32(...h('cserial'))
        .toString(16)
        .toUpperCase()
        .padStart(8, '0'),
      freeFraction: 0.15 + rand01(...h('cfree')) * 0.6,
    },
  ];
  if (rand01(...h('hasD')) < 0.5) {
    disks.push({
      deviceId: 'D:',
      driveType: 3,
      sizeBytes: pick([200, 500, 1000, 2000] as const, ...h('dsize')) * GIB - 135266304,
      fileSystem: 'NTFS',
      volumeName: 'Data',
      serial: hash32(...h('dserial'))
        .toString(16)
        .toUpperCase()
        .padStart(8, '0'),
      freeFraction: 0.1 + rand01(...h('dfree')) * 0.8,
    });
  }
  if (rand01(...h('hasCd')) < 0.35) {
    disks.push({
      deviceId: disks.length === 2 ? 'E:' : 'D:',
      driveType: 5,
      sizeBytes: null,
      fileSystem: null,
      volumeName: '',
      serial: '',
      freeFraction: 0,
    });
  }

  const nicCount = rand01(...h('nics')) < 0.3 ? 2 : 1;
  const bandwidth = platform.nic.includes('10GbE') ? 10_000_000_000 : 1_000_000_000;
  const nics: NicProfile[] = [];
  for (let i = 0; i < nicCount; i++) {
    nics.push({
      name: i === 0 ? platform.nic : `${platform.nic} _${i + 1}`,
      physical: true,
      bandwidth,
      sentBase: randInt(20_000, 4_000_000, ...h('sent', i)),
      recvBase: randInt(20_000, 6_000_000, ...h('recv', i)),
      packetSize: randInt(400, 1400, ...h('psize', i)),
      errorEvery: randInt(20, 400, ...h('errs', i)),
      discardEvery: randInt(10, 200, ...h('drops', i)),
    });
  }
  if (os.name === '2012 R2' || os.name === '2016') {
    const guid = `{${hash32(...h('isatap'))
      .toString(16)
      .toUpperCase()
      .padStart(8, '0')}-9D3B-4E1C-A7F0-2C5B1E0D4A11}`;
    nics.push({
      name: `isatap.${guid}`,
      physical: false,
      bandwidth: 100000,
      sentBase: 0,
      recvBase: 0,
      packetSize: 1,
      errorEvery: 0,
      discardEvery: 0,
    });
  }

  const services = SERVICES.filter((s, i) => i < 15 || rand01(...h('svc', i)) < 0.5).map(
    ([name, displayName, startMode, pathName], i) => ({
      name,
      displayName,
      startMode,
      state: startMode === 'Auto' || rand01(...h('svcstate', i)) < 0.3 ? ('Running' as const) : ('Stopped' as const),
      processId: 0,
      pathName,
    }),
  );
  for (const [i, s] of services.entries())
    if (s.state === 'Running') s.processId = 400 + ((4 * hash32(...h('svcpid', i))) % 8000);

  return {
    index,
    seed,
    hostname,
    os,
    caption: `Microsoft Windows Server ${os.name} ${edition}`,
    serialNumber: `00${randInt(300, 499, ...h('sn1'))}-${randInt(10000, 99999, ...h('sn2'))}-${randInt(10000, 99999, ...h('sn3'))}-AA${randInt(100, 999, ...h('sn4'))}`,
    cpuCount,
    cpuName: pick(CPU_NAMES, ...h('cpuname')),
    cpuClockMhz: pick([2095, 2195, 2394, 2993] as const, ...h('clock')),
    manufacturer: platform.manufacturer,
    model: platform.model,
    memoryTotalKb,
    physicalMemoryBytes: memGb * GIB - randInt(1, 6, ...h('physres')) * 1024 * 1024,
    disks,
    nics,
    processBase: randInt(55, 140, ...h('procs')),
    uptimeSeconds: randInt(3600, 90 * 86400, ...h('uptime')),
    services,
  };
}
