<#
.SYNOPSIS
    Checks, on a real Windows host, what the MSI (or pumpkinlb.exe
    --install-service) set up for service PumpkinLB: the parts Wine cannot
    show. Run it from an elevated PowerShell after installing:

        powershell -ExecutionPolicy Bypass -File tests\windows\check-service.ps1

.DESCRIPTION
    Prints PASS or FAIL per check and ends with
    "check-service: N passed, N failed"; exits 1 if anything failed.
      - sc qc: the binary path is quoted, automatic (delayed) start,
        LocalService, dependencies Tcpip and Afd
      - sc qfailure / qfailureflag: restarts after 5 s, 5 s, 30 s, reset
        after a day, also after a stop with an error status
      - sc qsidtype / qprivs / showsid: unrestricted service SID
        (NT SERVICE\PumpkinLB), SeChangeNotifyPrivilege only
      - the registry: PreshutdownTimeout = graceful_shutdown_timeout + 5 s,
        DelayedAutostart 1
      - Get-Acl: %ProgramData%\PumpkinLB and pumpkinlb.cfg protected, owned
        by Administrators, writable by SYSTEM and Administrators only; the
        logs folder writable by NT SERVICE\PumpkinLB too, nobody else
      - pumpkinlb.exe carries a version resource
      - the Application log's PumpkinLB events use the IDs of messages.mc
      - killed, the service is restarted by the SCM (skip: -SkipRestart)
    The data path checks are tests\windows\check-data-path.ps1's.
#>
param(
    [string]$Service = 'PumpkinLB',
    [string]$Config = (Join-Path $env:ProgramData 'PumpkinLB\pumpkinlb.cfg'),
    [switch]$SkipRestart
)

$ErrorActionPreference = 'Stop'
$script:passed = 0
$script:failed = 0

function Check([string]$Name, [bool]$Ok, [string]$Detail = '') {
    if ($Ok) {
        $script:passed++
        Write-Output "PASS $Name"
    } else {
        $script:failed++
        Write-Output "FAIL ${Name}: $Detail"
    }
}

function Invoke-Sc([string[]]$ScArgs) {
    $ErrorActionPreference = 'Continue'
    # sc.exe, not PowerShell's Set-Content alias.
    return (& sc.exe @ScArgs 2>&1 | Out-String)
}

$admin = ([Security.Principal.WindowsPrincipal] `
    [Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole(
    [Security.Principal.WindowsBuiltInRole]::Administrator)
Check 'running elevated' $admin 'run this from an elevated PowerShell'

# ---- the SCM's settings ----
$qc = Invoke-Sc @('qc', $Service)
Check 'sc qc: service exists' ($LASTEXITCODE -eq 0) $qc
Check 'sc qc: binary path is quoted' `
    ($qc -match 'BINARY_PATH_NAME\s*:\s*"[^"]+\\pumpkinlb\.exe"\s+--service\s+"') $qc
Check 'sc qc: automatic, delayed start' ($qc -match 'START_TYPE\s*:\s*2\s+AUTO_START\s+\(DELAYED\)') $qc
Check 'sc qc: runs as LocalService' ($qc -match 'SERVICE_START_NAME\s*:\s*NT AUTHORITY\\LocalService') $qc
Check 'sc qc: depends on Tcpip and Afd' (($qc -match 'DEPENDENCIES\s*:\s*Tcpip') -and ($qc -match '(?m)^\s*:?\s*Afd\s*$|DEPENDENCIES.*Afd')) $qc

$qf = Invoke-Sc @('qfailure', $Service)
Check 'sc qfailure: reset after a day' ($qf -match 'RESET_PERIOD \(in seconds\)\s*:\s*86400') $qf
$delays = [regex]::Matches($qf, 'RESTART -- Delay = (\d+) milliseconds') | ForEach-Object { $_.Groups[1].Value }
Check 'sc qfailure: restart after 5 s, 5 s, 30 s' (($delays -join ',') -eq '5000,5000,30000') $qf
$qff = Invoke-Sc @('qfailureflag', $Service)
Check 'sc qfailureflag: also after a stop with an error status' ($qff -match 'FAILURE_ACTIONS_ON_NONCRASH_FAILURES\s*:\s*TRUE') $qff
$qs = Invoke-Sc @('qsidtype', $Service)
Check 'sc qsidtype: unrestricted' ($qs -match 'SERVICE_SID_TYPE\s*:\s*UNRESTRICTED') $qs
$qp = Invoke-Sc @('qprivs', $Service)
$privs = [regex]::Matches($qp, '\bSe\w+Privilege\b') | ForEach-Object { $_.Value }
Check 'sc qprivs: SeChangeNotifyPrivilege only' (($privs -join ',') -eq 'SeChangeNotifyPrivilege') $qp
$sid = Invoke-Sc @('showsid', $Service)
Check 'sc showsid: NT SERVICE\PumpkinLB is the SID the ACLs name' `
    ($sid -match 'S-1-5-80-3479311871-3447738773-4106833555-1091899233-3414575543') $sid

$key = Get-ItemProperty "HKLM:\SYSTEM\CurrentControlSet\Services\$Service"
$drain = 6
if (Test-Path $Config) {
    $m = Select-String -Path $Config -Pattern '^\s*graceful_shutdown_timeout\s*[=:]\s*(\d+)' | Select-Object -First 1
    if ($m) { $drain = [int]$m.Matches[0].Groups[1].Value }
}
Check "PreshutdownTimeout = graceful_shutdown_timeout ($drain s) + 5 s" `
    ($key.PreshutdownTimeout -eq ($drain * 1000 + 5000)) "registry has $($key.PreshutdownTimeout)"
Check 'DelayedAutostart = 1' ($key.DelayedAutostart -eq 1) "registry has $($key.DelayedAutostart)"

# ---- permissions ----
$writeRights = [Security.AccessControl.FileSystemRights]'WriteData, AppendData, WriteExtendedAttributes, WriteAttributes, Delete, DeleteSubdirectoriesAndFiles, ChangePermissions, TakeOwnership'
$trusted = @('S-1-5-18', 'S-1-5-32-544')   # SYSTEM, Administrators
$serviceSid = 'S-1-5-80-3479311871-3447738773-4106833555-1091899233-3414575543'

function Check-Acl([string]$Path, [string[]]$MayWrite, [string]$ReaderSid) {
    if (-not (Test-Path $Path)) { Check "Get-Acl ${Path}: exists" $false 'missing'; return }
    $acl = Get-Acl $Path
    Check "Get-Acl ${Path}: protected (no inherited rules)" $acl.AreAccessRulesProtected ($acl.Access | Out-String)
    $owner = (New-Object Security.Principal.NTAccount($acl.Owner)).Translate([Security.Principal.SecurityIdentifier]).Value
    Check "Get-Acl ${Path}: owned by Administrators" ($owner -eq 'S-1-5-32-544') "owner $($acl.Owner)"
    $writers = @()
    $readers = @()
    foreach ($r in $acl.Access) {
        if ($r.AccessControlType -ne 'Allow') { continue }
        $s = $r.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value
        if (($r.FileSystemRights -band $writeRights) -ne 0 -and -not ($MayWrite -contains $s)) {
            $writers += "$($r.IdentityReference) ($($r.FileSystemRights))"
        }
        if ($s -eq $ReaderSid) { $readers += $r }
    }
    Check "Get-Acl ${Path}: writable by $(($MayWrite | ForEach-Object { ([Security.Principal.SecurityIdentifier]$_).Translate([Security.Principal.NTAccount]).Value }) -join ', ') only" `
        ($writers.Count -eq 0) ("also: " + ($writers -join '; '))
    Check "Get-Acl ${Path}: readable by $ReaderSid" ($readers.Count -gt 0) ($acl.Access | Out-String)
}

$data = Join-Path $env:ProgramData 'PumpkinLB'
Check-Acl $data $trusted 'S-1-5-32-545'
Check-Acl $Config $trusted 'S-1-5-32-545'
Check-Acl (Join-Path $data 'logs') ($trusted + $serviceSid) 'S-1-5-32-545'
$logsAcl = Get-Acl (Join-Path $data 'logs') -ErrorAction SilentlyContinue
Check 'logs: NT SERVICE\PumpkinLB may modify' `
    ($null -ne ($logsAcl.Access | Where-Object {
        $_.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value -eq $serviceSid -and
        ($_.FileSystemRights -band [Security.AccessControl.FileSystemRights]::Modify) -eq [Security.AccessControl.FileSystemRights]::Modify })) `
    ($logsAcl.Access | Out-String)

# ---- the exe ----
$exePath = ((Get-CimInstance Win32_Service -Filter "Name='$Service'").PathName -replace '^"([^"]+)".*$', '$1')
$ver = (Get-Item $exePath).VersionInfo
Check "pumpkinlb.exe has a version resource ($($ver.FileVersion))" `
    ($ver.ProductName -eq 'PumpkinLB' -and $ver.FileVersion -match '^\d+\.\d+\.\d+') ($ver | Out-String)

# ---- Event Log IDs ----
$known = 1, 100, 101, 102, 103, 200, 201, 202, 300, 301, 302, 303
$events = @(Get-WinEvent -FilterHashtable @{ LogName = 'Application'; ProviderName = 'PumpkinLB' } -MaxEvents 200 -ErrorAction SilentlyContinue)
$ids = $events | ForEach-Object { $_.Id } | Sort-Object -Unique
Write-Output "  Event IDs seen: $($ids -join ', ')"
Check 'Event Log: PumpkinLB events carry messages.mc IDs' `
    ($events.Count -gt 0 -and -not ($ids | Where-Object { $known -notcontains $_ })) `
    'no PumpkinLB events yet, or unknown IDs (start and stop the service once)'
Check 'Event Log: the message table renders the text' `
    ($events.Count -gt 0 -and -not ($events | Where-Object { $_.Message -match 'cannot be found' })) `
    ($events | Select-Object -First 3 | Format-List Id, Message | Out-String)

# ---- restart by the SCM ----
if (-not $SkipRestart) {
    $svc = Get-CimInstance Win32_Service -Filter "Name='$Service'"
    if ($svc.State -ne 'Running') {
        Check 'restart after a kill' $false "service is $($svc.State): start it first (sc start $Service)"
    } else {
        $old = $svc.ProcessId
        Stop-Process -Id $old -Force
        $deadline = (Get-Date).AddSeconds(30)
        do {
            Start-Sleep -Milliseconds 500
            $svc = Get-CimInstance Win32_Service -Filter "Name='$Service'"
        } while ((Get-Date) -lt $deadline -and -not ($svc.State -eq 'Running' -and $svc.ProcessId -ne $old))
        Check 'restart after a kill (first delay 5 s)' ($svc.State -eq 'Running' -and $svc.ProcessId -ne $old) `
            "state $($svc.State), pid $($svc.ProcessId) (was $old)"
    }
}

Write-Output "check-service: $script:passed passed, $script:failed failed"
if ($script:failed -gt 0) { exit 1 }
exit 0
