import type { HostProfile } from './host-profile.ts';
import type { HostState } from './host-state.ts';

/** A CIM datetime; rendered as a nested cim:Datetime element. */
export interface WmiDatetime {
  datetime: string;
}
export type WmiValue = string | number | bigint | boolean | null | WmiDatetime | readonly string[];
export type WmiInstance = Record<string, WmiValue>;

/** One WMI class of root/cimv2: its properties in Windows' (case-insensitive alphabetical) order. */
export interface WmiClass {
  name: string;
  properties: readonly string[];
  /** Selectors a transfer/Get may address an instance by. */
  keys: readonly string[];
  instances(profile: HostProfile, state: HostState): WmiInstance[];
}

const dt = (ms: number): WmiDatetime => ({ datetime: new Date(ms).toISOString() });
const sorted = (props: string): readonly string[] =>
  props
    .split(/\s+/)
    .filter(Boolean)
    .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));

const OPERATING_SYSTEM: WmiClass = {
  name: 'Win32_OperatingSystem',
  keys: ['Name'],
  properties: sorted(`BootDevice BuildNumber BuildType Caption CodeSet CountryCode CreationClassName CSCreationClassName
    CSDVersion CSName CurrentTimeZone DataExecutionPrevention_32BitApplications DataExecutionPrevention_Available
    DataExecutionPrevention_Drivers DataExecutionPrevention_SupportPolicy Debug Description Distributed EncryptionLevel
    ForegroundApplicationBoost FreePhysicalMemory FreeSpaceInPagingFiles FreeVirtualMemory InstallDate LargeSystemCache
    LastBootUpTime LocalDateTime Locale Manufacturer MaxNumberOfProcesses MaxProcessMemorySize MUILanguages Name
    NumberOfLicensedUsers NumberOfProcesses NumberOfUsers OperatingSystemSKU Organization OSArchitecture OSLanguage
    OSProductSuite OSType OtherTypeDescription PAEEnabled PlusProductID PlusVersionNumber PortableOperatingSystem Primary
    ProductType RegisteredUser SerialNumber ServicePackMajorVersion ServicePackMinorVersion SizeStoredInPagingFiles Status
    SuiteMask SystemDevice SystemDirectory SystemDrive TotalSwapSpaceSize TotalVirtualMemorySize TotalVisibleMemorySize
    Version WindowsDirectory`),
  instances(p, s) {
    const pagingKb = 4 * 1024 * 1024;
    return [
      {
        BootDevice: '\\Device\\HarddiskVolume1',
        BuildNumber: String(p.os.build),
        BuildType: 'Multiprocessor Free',
        Caption: p.caption,
        CodeSet: '1252',
        CountryCode: '1',
        CreationClassName: 'Win32_OperatingSystem',
        CSCreationClassName: 'Win32_ComputerSystem',
        CSDVersion: null,
        CSName: p.hostname,
        CurrentTimeZone: 0,
        DataExecutionPrevention_32BitApplications: true,
        DataExecutionPrevention_Available: true,
        DataExecutionPrevention_Drivers: true,
        DataExecutionPrevention_SupportPolicy: 3,
        Debug: false,
        Description: '',
        Distributed: false,
        EncryptionLevel: 256,
        ForegroundApplicationBoost: 2,
        FreePhysicalMemory: s.memory.freeKb,
        FreeSpaceInPagingFiles: pagingKb - 51200,
        FreeVirtualMemory: s.memory.freeKb + pagingKb - 51200,
        InstallDate: dt(s.bootMs - 200 * 86400000),
        LargeSystemCache: null,
        LastBootUpTime: dt(s.bootMs),
        LocalDateTime: dt(s.timeMs),
        Locale: '0409',
        Manufacturer: 'Microsoft Corporation',
        MaxNumberOfProcesses: 4294967295,
        MaxProcessMemorySize: 137438953344n,
        MUILanguages: ['en-US'],
        Name: `${p.caption}|C:\\Windows|\\Device\\Harddisk0\\Partition2`,
        NumberOfLicensedUsers: 0,
        NumberOfProcesses: s.processCount,
        NumberOfUsers: 1,
        OperatingSystemSKU: p.caption.endsWith('Datacenter') ? 8 : 7,
        Organization: '',
        OSArchitecture: '64-bit',
        OSLanguage: 1033,
        OSProductSuite: 272,
        OSType: 18,
        OtherTypeDescription: null,
        PAEEnabled: null,
        PlusProductID: null,
        PlusVersionNumber: null,
        PortableOperatingSystem: false,
        Primary: true,
        ProductType: 3,
        RegisteredUser: 'Windows User',
        SerialNumber: p.serialNumber,
        ServicePackMajorVersion: 0,
        ServicePackMinorVersion: 0,
        SizeStoredInPagingFiles: pagingKb,
        Status: 'OK',
        SuiteMask: 272,
        SystemDevice: '\\Device\\HarddiskVolume2',
        SystemDirectory: 'C:\\Windows\\system32',
        SystemDrive: 'C:',
        TotalSwapSpaceSize: null,
        TotalVirtualMemorySize: p.memoryTotalKb + pagingKb,
        TotalVisibleMemorySize: p.memoryTotalKb,
        Version: p.os.version,
        WindowsDirectory: 'C:\\Windows',
      },
    ];
  },
};

const COMPUTER_SYSTEM: WmiClass = {
  name: 'Win32_ComputerSystem',
  keys: ['Name'],
  properties: sorted(`AdminPasswordStatus AutomaticManagedPagefile AutomaticResetBootOption AutomaticResetCapability
    BootupState Caption CreationClassName CurrentTimeZone DaylightInEffect Description DNSHostName Domain DomainRole
    HypervisorPresent Manufacturer Model Name NumberOfLogicalProcessors NumberOfProcessors PartOfDomain PCSystemType
    PowerState PrimaryOwnerName Roles Status SystemType ThermalState TotalPhysicalMemory UserName Workgroup`),
  instances(p) {
    return [
      {
        AdminPasswordStatus: 3,
        AutomaticManagedPagefile: true,
        AutomaticResetBootOption: true,
        AutomaticResetCapability: true,
        BootupState: 'Normal boot',
        Caption: p.hostname,
        CreationClassName: 'Win32_ComputerSystem',
        CurrentTimeZone: 0,
        DaylightInEffect: null,
        Description: 'AT/AT COMPATIBLE',
        DNSHostName: p.hostname.toLowerCase(),
        Domain: 'WORKGROUP',
        DomainRole: 2,
        HypervisorPresent: p.manufacturer !== 'Dell Inc.' && p.manufacturer !== 'HPE',
        Manufacturer: p.manufacturer,
        Model: p.model,
        Name: p.hostname,
        NumberOfLogicalProcessors: p.cpuCount,
        NumberOfProcessors: 1,
        PartOfDomain: false,
        PCSystemType: 4,
        PowerState: 0,
        PrimaryOwnerName: 'Windows User',
        Roles: ['LM_Workstation', 'LM_Server', 'NT', 'Server_NT'],
        Status: 'OK',
        SystemType: 'x64-based PC',
        ThermalState: 3,
        TotalPhysicalMemory: p.physicalMemoryBytes,
        UserName: null,
        Workgroup: 'WORKGROUP',
      },
    ];
  },
};

const LOGICAL_DISK: WmiClass = {
  name: 'Win32_LogicalDisk',
  keys: ['DeviceID'],
  properties: sorted(`Access Availability BlockSize Caption Compressed ConfigManagerErrorCode ConfigManagerUserConfig
    CreationClassName Description DeviceID DriveType ErrorCleared ErrorDescription ErrorMethodology FileSystem FreeSpace
    InstallDate LastErrorCode MaximumComponentLength MediaType Name NumberOfBlocks PNPDeviceID PowerManagementSupported
    ProviderName Purpose QuotasDisabled QuotasIncomplete QuotasRebuilding Size Status StatusInfo SupportsDiskQuotas
    SupportsFileBasedCompression SystemCreationClassName SystemName VolumeDirty VolumeName VolumeSerialNumber`),
  instances(p, s) {
    return p.disks.map((d, i) => {
      const fixed = d.driveType === 3;
      return {
        Access: fixed ? 0 : null,
        Availability: null,
        BlockSize: null,
        Caption: d.deviceId,
        Compressed: fixed ? false : null,
        ConfigManagerErrorCode: null,
        ConfigManagerUserConfig: null,
        CreationClassName: 'Win32_LogicalDisk',
        Description: fixed ? 'Local Fixed Disk' : 'CD-ROM Disc',
        DeviceID: d.deviceId,
        DriveType: d.driveType,
        ErrorCleared: null,
        ErrorDescription: null,
        ErrorMethodology: null,
        FileSystem: d.fileSystem,
        FreeSpace: s.disks[i]!.freeBytes,
        InstallDate: null,
        LastErrorCode: null,
        MaximumComponentLength: fixed ? 255 : null,
        MediaType: fixed ? 12 : 11,
        Name: d.deviceId,
        NumberOfBlocks: null,
        PNPDeviceID: null,
        PowerManagementSupported: null,
        ProviderName: null,
        Purpose: null,
        QuotasDisabled: fixed ? true : null,
        QuotasIncomplete: fixed ? false : null,
        QuotasRebuilding: fixed ? false : null,
        Size: d.sizeBytes,
        Status: null,
        StatusInfo: null,
        SupportsDiskQuotas: fixed ? true : null,
        SupportsFileBasedCompression: fixed ? true : null,
        SystemCreationClassName: 'Win32_ComputerSystem',
        SystemName: p.hostname,
        VolumeDirty: fixed ? false : null,
        VolumeName: fixed ? d.volumeName : null,
        VolumeSerialNumber: fixed ? d.serial : null,
      };
    });
  },
};

const PROCESSOR: WmiClass = {
  name: 'Win32_Processor',
  keys: ['DeviceID'],
  properties:
    sorted(`AddressWidth Architecture Availability Caption CpuStatus CreationClassName CurrentClockSpeed DataWidth
    Description DeviceID Family L2CacheSize L3CacheSize Level LoadPercentage Manufacturer MaxClockSpeed Name NumberOfCores
    NumberOfEnabledCore NumberOfLogicalProcessors ProcessorId ProcessorType Role SocketDesignation Status StatusInfo
    SystemCreationClassName SystemName ThreadCount`),
  instances(p, s) {
    return [
      {
        AddressWidth: 64,
        Architecture: 9,
        Availability: 3,
        Caption: 'Intel64 Family 6 Model 85 Stepping 7',
        CpuStatus: 1,
        CreationClassName: 'Win32_Processor',
        CurrentClockSpeed: p.cpuClockMhz,
        DataWidth: 64,
        Description: 'Intel64 Family 6 Model 85 Stepping 7',
        DeviceID: 'CPU0',
        Family: 179,
        L2CacheSize: 1024 * p.cpuCount,
        L3CacheSize: 22528,
        Level: 6,
        LoadPercentage: s.cpu.totalPercent,
        Manufacturer: p.cpuName.startsWith('AMD') ? 'AuthenticAMD' : 'GenuineIntel',
        MaxClockSpeed: p.cpuClockMhz,
        Name: p.cpuName,
        NumberOfCores: p.cpuCount,
        NumberOfEnabledCore: p.cpuCount,
        NumberOfLogicalProcessors: p.cpuCount,
        ProcessorId: '0F8BFBFF00050657',
        ProcessorType: 3,
        Role: 'CPU',
        SocketDesignation: 'CPU 0',
        Status: 'OK',
        StatusInfo: 3,
        SystemCreationClassName: 'Win32_ComputerSystem',
        SystemName: p.hostname,
        ThreadCount: p.cpuCount,
      },
    ];
  },
};

const PERF_PROCESSOR_PROPS =
  sorted(`C1TransitionsPersec C2TransitionsPersec C3TransitionsPersec Caption Description DPCRate
  DPCsQueuedPersec Frequency_Object Frequency_PerfTime Frequency_Sys100NS InterruptsPersec Name PercentC1Time PercentC2Time
  PercentC3Time PercentDPCTime PercentIdleTime PercentInterruptTime PercentPrivilegedTime PercentProcessorTime PercentUserTime
  Timestamp_Object Timestamp_PerfTime Timestamp_Sys100NS`);

function perfProcessorRows(p: HostProfile, s: HostState, raw: boolean): WmiInstance[] {
  const names = [...s.cpu.corePercent.map((_, i) => String(i)), '_Total'];
  return names.map((name, i) => {
    const isTotal = i === p.cpuCount;
    const percent = isTotal ? s.cpu.totalPercent : s.cpu.corePercent[i]!;
    const idle = isTotal ? s.cpu.totalIdleTicks : s.cpu.coreIdleTicks[i]!;
    const busyTicks = s.uptimeTicks - idle;
    const user = raw ? Math.floor(busyTicks * 0.7) : Math.floor(percent * 0.7);
    const priv = raw ? busyTicks - user : percent - Math.floor(percent * 0.7);
    return {
      C1TransitionsPersec: raw ? 0 : 0,
      C2TransitionsPersec: 0,
      C3TransitionsPersec: 0,
      Caption: null,
      Description: null,
      DPCRate: 0,
      DPCsQueuedPersec: raw ? Math.floor(s.uptimeTicks / 1e6) : 12,
      Frequency_Object: 0,
      Frequency_PerfTime: raw ? 10000000 : 0,
      Frequency_Sys100NS: raw ? 10000000 : 0,
      InterruptsPersec: raw ? Math.floor(s.uptimeTicks / 1e4) : 900 + percent * 10,
      Name: name,
      PercentC1Time: raw ? idle : 100 - percent,
      PercentC2Time: 0,
      PercentC3Time: 0,
      PercentDPCTime: 0,
      PercentIdleTime: raw ? idle : 100 - percent,
      PercentInterruptTime: 0,
      PercentPrivilegedTime: priv,
      PercentProcessorTime: raw ? idle : percent,
      PercentUserTime: user,
      Timestamp_Object: 0,
      Timestamp_PerfTime: raw ? s.uptimeTicks : 0,
      Timestamp_Sys100NS: raw ? s.timestampSys100ns : 0,
    };
  });
}

const PERF_NIC_PROPS = sorted(`BytesReceivedPersec BytesSentPersec BytesTotalPersec Caption CurrentBandwidth Description
  Frequency_Object Frequency_PerfTime Frequency_Sys100NS Name OffloadedConnections OutputQueueLength PacketsOutboundDiscarded
  PacketsOutboundErrors PacketsPersec PacketsReceivedDiscarded PacketsReceivedErrors PacketsReceivedNonUnicastPersec
  PacketsReceivedPersec PacketsReceivedUnicastPersec PacketsReceivedUnknown PacketsSentNonUnicastPersec PacketsSentPersec
  PacketsSentUnicastPersec Timestamp_Object Timestamp_PerfTime Timestamp_Sys100NS`);

function perfNicRows(s: HostState, raw: boolean): WmiInstance[] {
  return s.nics.map((n) => {
    const bs = raw ? n.bytesSentTotal : n.bytesSentPerSec;
    const br = raw ? n.bytesReceivedTotal : n.bytesReceivedPerSec;
    const ps = raw ? n.packetsSentTotal : n.packetsSentPerSec;
    const pr = raw ? n.packetsReceivedTotal : n.packetsReceivedPerSec;
    const psNon = Math.floor(ps / 50);
    const prNon = Math.floor(pr / 40);
    return {
      BytesReceivedPersec: br,
      BytesSentPersec: bs,
      BytesTotalPersec: br + bs,
      Caption: null,
      CurrentBandwidth: n.bandwidth,
      Description: null,
      Frequency_Object: 0,
      Frequency_PerfTime: raw ? 10000000 : 0,
      Frequency_Sys100NS: raw ? 10000000 : 0,
      Name: n.name,
      OffloadedConnections: 0,
      OutputQueueLength: 0,
      PacketsOutboundDiscarded: n.packetsOutboundDiscarded,
      PacketsOutboundErrors: n.packetsOutboundErrors,
      PacketsPersec: ps + pr,
      PacketsReceivedDiscarded: n.packetsReceivedDiscarded,
      PacketsReceivedErrors: n.packetsReceivedErrors,
      PacketsReceivedNonUnicastPersec: prNon,
      PacketsReceivedPersec: pr,
      PacketsReceivedUnicastPersec: pr - prNon,
      PacketsReceivedUnknown: 0,
      PacketsSentNonUnicastPersec: psNon,
      PacketsSentPersec: ps,
      PacketsSentUnicastPersec: ps - psNon,
      Timestamp_Object: 0,
      Timestamp_PerfTime: raw ? s.uptimeTicks : 0,
      Timestamp_Sys100NS: raw ? s.timestampSys100ns : 0,
    };
  });
}

const PROCESS_NAMES = [
  'System Idle Process',
  'System',
  'Registry',
  'smss.exe',
  'csrss.exe',
  'wininit.exe',
  'services.exe',
  'lsass.exe',
  'winlogon.exe',
  'fontdrvhost.exe',
  'dwm.exe',
  'spoolsv.exe',
  'WmiPrvSE.exe',
  'MsMpEng.exe',
  'vmtoolsd.exe',
  'wsmprovhost.exe',
  'explorer.exe',
  'taskhostw.exe',
  'sihost.exe',
  'ctfmon.exe',
  'RuntimeBroker.exe',
  'conhost.exe',
  'dllhost.exe',
  'msdtc.exe',
  'SearchUI.exe',
  'LogonUI.exe',
  'sqlservr.exe',
  'w3wp.exe',
  'powershell.exe',
  'cmd.exe',
];

const PROCESS: WmiClass = {
  name: 'Win32_Process',
  keys: ['Handle'],
  properties:
    sorted(`Caption CommandLine CreationClassName CreationDate CSCreationClassName CSName Description ExecutablePath
    ExecutionState Handle HandleCount InstallDate KernelModeTime MaximumWorkingSetSize MinimumWorkingSetSize Name
    OSCreationClassName OSName OtherOperationCount OtherTransferCount PageFaults PageFileUsage ParentProcessId
    PeakPageFileUsage PeakVirtualSize PeakWorkingSetSize Priority PrivatePageCount ProcessId QuotaNonPagedPoolUsage
    QuotaPagedPoolUsage QuotaPeakNonPagedPoolUsage QuotaPeakPagedPoolUsage ReadOperationCount ReadTransferCount SessionId
    Status TerminationDate ThreadCount UserModeTime VirtualSize WindowsVersion WorkingSetSize WriteOperationCount
    WriteTransferCount`),
  instances(p, s) {
    const rows: WmiInstance[] = [];
    const osName = `${p.caption}|C:\\Windows|\\Device\\Harddisk0\\Partition2`;
    for (let i = 0; i < s.processCount; i++) {
      const name = i < PROCESS_NAMES.length ? PROCESS_NAMES[i]! : 'svchost.exe';
      const pid = i === 0 ? 0 : i === 1 ? 4 : 100 + i * 52;
      const path = i < 2 ? null : `C:\\Windows\\system32\\${name}`;
      const ws = i === 0 ? 8192 : 1048576 + ((i * 7919) % 200) * 65536;
      rows.push({
        Caption: name,
        CommandLine: path,
        CreationClassName: 'Win32_Process',
        CreationDate: i === 0 ? null : dt(s.bootMs + i * 1000),
        CSCreationClassName: 'Win32_ComputerSystem',
        CSName: p.hostname,
        Description: name,
        ExecutablePath: path,
        ExecutionState: null,
        Handle: String(pid),
        HandleCount: i === 0 ? 0 : 100 + ((i * 37) % 900),
        InstallDate: null,
        KernelModeTime: (i * 15625 * 1000) % 1e10,
        MaximumWorkingSetSize: i < 2 ? null : 1380,
        MinimumWorkingSetSize: i < 2 ? null : 200,
        Name: name,
        OSCreationClassName: 'Win32_OperatingSystem',
        OSName: osName,
        OtherOperationCount: i * 31,
        OtherTransferCount: i * 977,
        PageFaults: i * 113,
        PageFileUsage: i * 12,
        ParentProcessId: i < 2 ? 0 : 4,
        PeakPageFileUsage: i * 13,
        PeakVirtualSize: 4096 * (1000 + i),
        PeakWorkingSetSize: Math.floor(ws / 1024) + 10,
        Priority: 8,
        PrivatePageCount: i * 65536,
        ProcessId: pid,
        QuotaNonPagedPoolUsage: 5,
        QuotaPagedPoolUsage: 47,
        QuotaPeakNonPagedPoolUsage: 5,
        QuotaPeakPagedPoolUsage: 49,
        ReadOperationCount: i * 3,
        ReadTransferCount: i * 4096,
        SessionId: 0,
        Status: null,
        TerminationDate: null,
        ThreadCount: 1 + (i % 20),
        UserModeTime: (i * 31250 * 100) % 1e9,
        VirtualSize: 4096 * (900 + i),
        WindowsVersion: p.os.version,
        WorkingSetSize: ws,
        WriteOperationCount: i,
        WriteTransferCount: i * 512,
      });
    }
    return rows;
  },
};

const SERVICE: WmiClass = {
  name: 'Win32_Service',
  keys: ['Name'],
  properties:
    sorted(`AcceptPause AcceptStop Caption CheckPoint CreationClassName DelayedAutoStart Description DesktopInteract
    DisplayName ErrorControl ExitCode InstallDate Name PathName ProcessId ServiceSpecificExitCode ServiceType Started
    StartMode StartName State Status SystemCreationClassName SystemName TagId WaitHint`),
  instances(p) {
    return p.services.map((svc) => ({
      AcceptPause: false,
      AcceptStop: svc.state === 'Running',
      Caption: svc.displayName,
      CheckPoint: 0,
      CreationClassName: 'Win32_Service',
      DelayedAutoStart: false,
      Description: svc.displayName,
      DesktopInteract: false,
      DisplayName: svc.displayName,
      ErrorControl: 'Normal',
      ExitCode: svc.state === 'Running' ? 0 : 1077,
      InstallDate: null,
      Name: svc.name,
      PathName: svc.pathName,
      ProcessId: svc.processId,
      ServiceSpecificExitCode: 0,
      ServiceType: svc.pathName.includes('svchost') ? 'Share Process' : 'Own Process',
      Started: svc.state === 'Running',
      StartMode: svc.startMode,
      StartName: 'LocalSystem',
      State: svc.state,
      Status: 'OK',
      SystemCreationClassName: 'Win32_ComputerSystem',
      SystemName: p.hostname,
      TagId: 0,
      WaitHint: 0,
    }));
  },
};

const NETWORK_ADAPTER: WmiClass = {
  name: 'Win32_NetworkAdapter',
  keys: ['DeviceID'],
  properties: sorted(`AdapterType Caption Description DeviceID Index Name NetConnectionID NetConnectionStatus NetEnabled
    PhysicalAdapter ProductName ServiceName Speed`),
  instances(p) {
    return p.nics.map((n, i) => ({
      AdapterType: n.physical ? 'Ethernet 802.3' : 'Tunnel',
      Caption: `[0000000${i}] ${n.name}`,
      Description: n.name.replace(/\[/g, '(').replace(/\]/g, ')'),
      DeviceID: String(i),
      Index: i,
      Name: n.name.replace(/\[/g, '(').replace(/\]/g, ')'),
      NetConnectionID: n.physical ? (i === 0 ? 'Ethernet' : `Ethernet ${i + 1}`) : null,
      NetConnectionStatus: n.physical ? 2 : null,
      NetEnabled: n.physical ? true : null,
      PhysicalAdapter: n.physical,
      ProductName: n.name,
      ServiceName: n.physical ? 'netvsc' : 'tunnel',
      Speed: n.physical ? n.bandwidth : null,
    }));
  },
};

const perfClass = (
  name: string,
  props: readonly string[],
  keys: readonly string[],
  rows: WmiClass['instances'],
): WmiClass => ({
  name,
  properties: props,
  keys,
  instances: rows,
});

export const WMI_CLASSES: ReadonlyMap<string, WmiClass> = new Map(
  [
    OPERATING_SYSTEM,
    COMPUTER_SYSTEM,
    LOGICAL_DISK,
    PROCESSOR,
    PROCESS,
    SERVICE,
    NETWORK_ADAPTER,
    perfClass('Win32_PerfFormattedData_PerfOS_Processor', PERF_PROCESSOR_PROPS, ['Name'], (p, s) =>
      perfProcessorRows(p, s, false),
    ),
    perfClass('Win32_PerfRawData_PerfOS_Processor', PERF_PROCESSOR_PROPS, ['Name'], (p, s) =>
      perfProcessorRows(p, s, true),
    ),
    perfClass('Win32_PerfFormattedData_Tcpip_NetworkInterface', PERF_NIC_PROPS, ['Name'], (_p, s) =>
      perfNicRows(s, false),
    ),
    perfClass('Win32_PerfRawData_Tcpip_NetworkInterface', PERF_NIC_PROPS, ['Name'], (_p, s) => perfNicRows(s, true)),
  ].map((c) => [c.name.toLowerCase(), c]),
);

export function findWmiClass(name: string): WmiClass | undefined {
  return WMI_CLASSES.get(name.toLowerCase());
}
