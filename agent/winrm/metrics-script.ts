/**
 * The PowerShell script behind `windows-powershell`: the same numbers as collectWindowsMetrics,
 * from one shell command, printed as ONE line of JSON whose keys are MetricSample fields
 * (without collection_ms). Windows PowerShell 2.0 compatible (no ConvertTo-Json, no CIM cmdlets).
 *
 * Contract with test/winsim: the script text contains METRICS_SCRIPT_MARKER. The client sends it as
 * `powershell.exe ... -EncodedCommand <base64 UTF-16LE>` (see powershell.ts, a
 * `$ProgressPreference` line is prepended); a simulator decodes that argument and looks for the marker,
 * then answers with one JSON line on stdout and exit code 0.
 */
export const METRICS_SCRIPT_MARKER = 'nmslite-metrics-v1';

export const METRICS_SCRIPT = `# ${METRICS_SCRIPT_MARKER}
$ErrorActionPreference = 'Stop'
$inv = [Globalization.CultureInfo]::InvariantCulture
function N($v) { if ($v -eq $null) { 'null' } else { ([decimal]$v).ToString($inv) } }
$cpu = $null
try { $cpu = (Get-WmiObject -Query "SELECT PercentProcessorTime FROM Win32_PerfFormattedData_PerfOS_Processor WHERE Name='_Total'" | Select-Object -First 1).PercentProcessorTime } catch { }
if ($cpu -eq $null) { try { $cpu = (Get-WmiObject -Query 'SELECT LoadPercentage FROM Win32_Processor' | Measure-Object -Property LoadPercentage -Average).Average } catch { } }
$os = Get-WmiObject -Query 'SELECT TotalVisibleMemorySize,FreePhysicalMemory,NumberOfProcesses FROM Win32_OperatingSystem' | Select-Object -First 1
$memTotal = [decimal]$os.TotalVisibleMemorySize * 1024
$memUsed = ([decimal]$os.TotalVisibleMemorySize - [decimal]$os.FreePhysicalMemory) * 1024
$diskTotal = [decimal]0; $diskFree = [decimal]0
foreach ($d in @(Get-WmiObject -Query 'SELECT Size,FreeSpace FROM Win32_LogicalDisk WHERE DriveType=3')) {
  if ($d.Size -ne $null) { $diskTotal += [decimal]$d.Size; $diskFree += [decimal]$d.FreeSpace }
}
$sent = $null; $recv = $null; $util = $null; $bwOut = $null; $ps = $null; $pr = $null; $errs = $null; $drops = $null
try {
  $q = 'SELECT Name,BytesSentPersec,BytesReceivedPersec,CurrentBandwidth,PacketsSentPersec,PacketsReceivedPersec,' +
    'PacketsOutboundErrors,PacketsReceivedErrors,PacketsOutboundDiscarded,PacketsReceivedDiscarded ' +
    'FROM Win32_PerfFormattedData_Tcpip_NetworkInterface'
  $nics = @(Get-WmiObject -Query $q | Where-Object { $_.Name -notmatch 'isatap|teredo|6to4|pseudo-interface|loopback' })
  $sent = [decimal]0; $recv = [decimal]0; $bw = [decimal]0; $ps = [decimal]0; $pr = [decimal]0; $errs = [decimal]0; $drops = [decimal]0
  foreach ($n in $nics) {
    $sent += [decimal]$n.BytesSentPersec; $recv += [decimal]$n.BytesReceivedPersec; $bw += [decimal]$n.CurrentBandwidth
    $ps += [decimal]$n.PacketsSentPersec; $pr += [decimal]$n.PacketsReceivedPersec
    $errs += [decimal]$n.PacketsOutboundErrors + [decimal]$n.PacketsReceivedErrors
    $drops += [decimal]$n.PacketsOutboundDiscarded + [decimal]$n.PacketsReceivedDiscarded
  }
  if ($bw -gt 0) { $util = [Math]::Round(($sent + $recv) * 8 * 100 / $bw, 4); $bwOut = $bw }
} catch { }
'{"cpu_percent":' + (N $cpu) + ',"memory_total":' + (N $memTotal) + ',"memory_used":' + (N $memUsed) +
  ',"disk_total":' + (N $diskTotal) + ',"disk_used":' + (N ($diskTotal - $diskFree)) +
  ',"net_sent_ps":' + (N $sent) + ',"net_recv_ps":' + (N $recv) + ',"net_utilization":' + (N $util) + ',"net_bandwidth":' + (N $bwOut) +
  ',"packets_sent":' + (N $ps) + ',"packets_recv":' + (N $pr) + ',"net_errors":' + (N $errs) +
  ',"net_dropped":' + (N $drops) + ',"process_count":' + (N $os.NumberOfProcesses) + '}'
`;
