# NMSlite agent installer (Windows, PowerShell 5.1 or 7). Served by an NMSlite server at
# /install/agent.ps1 with the server's address, its certificate fingerprint and the SHA-256 of the
# agent binary filled in below. Run from an elevated PowerShell (POST /api/v1/agents returns the line).
#
# Steps: download the agent over a connection checked against the server certificate's SHA-256,
# verify the binary's SHA-256, enroll it (the certificate pinned), install it and register a service.
# Windows cannot run a console program as a service by itself: the service goes through a wrapper
# you install first, NSSM (https://nssm.cc, `-ServiceWrapper C:\path\nssm.exe` or nssm.exe on PATH).
# Nothing is bundled. NOT TESTED on Windows by the project's test suite (only the Linux script is).
param(
  [Parameter(Mandatory = $true)][string]$TokenEnv,
  [string]$InstallDir = (Join-Path $env:ProgramFiles 'NMSlite'),
  [string]$StateDir = (Join-Path $env:ProgramData 'NMSlite\agent'),
  [string]$ServiceWrapper = '',
  [switch]$NoService
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2

$ServerUrl = __NMSLITE_SERVER_URL__
$ServerWss = __NMSLITE_SERVER_WSS__
$Fingerprint = __NMSLITE_FINGERPRINT__
$Version = __NMSLITE_VERSION__
$Sha256WinX64 = __NMSLITE_SHA256_WIN_X64__

# throw, not exit: the script usually runs inside the operator's own PowerShell window.
function Fail([string]$Message) { throw "nmslite-agent install: error: $Message" }
function Say([string]$Message) { Write-Host "nmslite-agent install: $Message" }

# The token is read from the environment, never from the command line.
if ($TokenEnv -notmatch '^[A-Za-z_][A-Za-z0-9_]*$') { Fail "-TokenEnv must name an environment variable, got '$TokenEnv'" }
$token = [Environment]::GetEnvironmentVariable($TokenEnv)
if (-not $token) { Fail "the environment variable $TokenEnv is empty or not set" }
$admin = ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole(
  [Security.Principal.WindowsBuiltInRole]::Administrator)
if (-not $admin) { Fail 'run this from an elevated PowerShell (Run as administrator)' }
if (-not [Environment]::Is64BitOperatingSystem) { Fail 'NMSlite agents for Windows are built for x64 only' }
if (-not $Sha256WinX64) { Fail "the server $ServerUrl has no Windows agent binary (not built there: npm run build:agent)" }
if (Test-Path (Join-Path $StateDir 'identity.json')) {
  Fail "an agent is already enrolled in $StateDir (identity.json): remove it to enroll again, or pass another -StateDir"
}
$nssm = $null
if (-not $NoService) {
  if ($ServiceWrapper) { $nssm = $ServiceWrapper } else { $nssm = (Get-Command nssm.exe -ErrorAction SilentlyContinue).Source }
  if (-not $nssm -or -not (Test-Path $nssm)) {
    Fail 'no service wrapper: install NMSlite as a service through NSSM (https://nssm.cc; pass -ServiceWrapper C:\path\nssm.exe), or rerun with -NoService'
  }
}

# Every HTTPS connection of this session must present the pinned certificate (self-signed is fine).
if (-not ('NmsliteInstallPin' -as [type])) { Add-Type -TypeDefinition @'
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
public static class NmsliteInstallPin {
  public static string Fingerprint;
  public static bool Check(object s, X509Certificate c, X509Chain ch, SslPolicyErrors e) {
    if (c == null) return false;
    using (var sha = SHA256.Create()) {
      return System.BitConverter.ToString(sha.ComputeHash(c.GetRawCertData())).Replace("-", "") == Fingerprint;
    }
  }
}
'@ }
[NmsliteInstallPin]::Fingerprint = $Fingerprint.ToUpperInvariant()
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
[Net.ServicePointManager]::ServerCertificateValidationCallback = [Delegate]::CreateDelegate(
  [Net.Security.RemoteCertificateValidationCallback], [NmsliteInstallPin].GetMethod('Check'))

$tmp = Join-Path ([IO.Path]::GetTempPath()) ("nmslite-agent-" + [Guid]::NewGuid())
New-Item -ItemType Directory -Path $tmp | Out-Null
try {
  $exe = Join-Path $tmp 'nmslite-agent.exe'
  Say "downloading the agent $Version for windows-x64 from $ServerUrl"
  try { (New-Object Net.WebClient).DownloadFile("$ServerUrl/install/agent-win-x64.exe", $exe) }
  catch { Fail "download failed (a certificate other than the pinned one fails here too): $($_.Exception.Message)" }
  $got = (Get-FileHash -Algorithm SHA256 -Path $exe).Hash.ToLowerInvariant()
  if ($got -ne $Sha256WinX64) {
    Fail "SHA-256 mismatch for agent-win-x64.exe: expected $Sha256WinX64, got $got. The download is corrupt or was tampered with; nothing was installed"
  }
  Say "SHA-256 verified: $got"

  New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
  Say "enrolling with $ServerWss (certificate SHA-256 $Fingerprint)"
  & $exe enroll --server $ServerWss --token-env $TokenEnv --fingerprint $Fingerprint --home $StateDir
  if ($LASTEXITCODE -ne 0) { Fail "enrollment failed (agent exit $LASTEXITCODE, its message is above); nothing was installed" }

  New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
  $target = Join-Path $InstallDir 'nmslite-agent.exe'
  Copy-Item -Force -Path $exe -Destination $target
  Say "installed $target"
} finally {
  Remove-Item -Recurse -Force -Path $tmp -ErrorAction SilentlyContinue
  # The pin was for this server only: the operator's session checks certificates normally again.
  [Net.ServicePointManager]::ServerCertificateValidationCallback = $null
}

if ($NoService) {
  Say "done (no service): start the agent with & '$target' run --home '$StateDir'"
  return
}
& $nssm install NMSliteAgent $target run --home $StateDir
if ($LASTEXITCODE -ne 0) { Fail "nssm install failed (exit $LASTEXITCODE)" }
& $nssm set NMSliteAgent DisplayName 'NMSlite edge agent' | Out-Null
& $nssm set NMSliteAgent AppStdout (Join-Path $StateDir 'agent.log') | Out-Null
& $nssm set NMSliteAgent AppStderr (Join-Path $StateDir 'agent.log') | Out-Null
& $nssm start NMSliteAgent
if ($LASTEXITCODE -ne 0) { Fail "nssm start failed (exit $LASTEXITCODE); see $StateDir\agent.log" }
Say 'done: service NMSliteAgent is running (Get-Service NMSliteAgent)'
