<#
.SYNOPSIS
    Checks PumpkinLB's data path on a real Windows host: what Wine cannot
    show (issue 17, "Data path").

.DESCRIPTION
    Run from an elevated PowerShell (Windows PowerShell 5.1 or PowerShell 7)
    on Windows 10 / Server 2016 or later:

        powershell -ExecutionPolicy Bypass -File tests\windows\check-data-path.ps1 `
            -Exe "C:\Program Files\PumpkinLB\pumpkinlb.exe"

    It starts its own pumpkinlb.exe (not the service) on 127.0.0.1 ports it
    picks, with backends and clients of its own, and checks:

      1. an idle_timeout close is a FIN, not a reset (and the start line
         gives the connection cap derived from memory);
      2. a half_close_timeout close is a FIN, not a reset;
      3. the statistics server's close after its linger is not a reset;
      4. drain-then-reset: a backend's reset reaches a slow client only
         after the bytes before it (needs SIO_TCP_INFO: Windows 10 1703,
         Server 2016);
      5. 2,000 backend connections with the dynamic port range cut to
         1,000 ports all succeed, and the backends stay up. It sets the
         range with netsh (and, where Set-NetTCPSetting has them, the
         auto-reuse range that SO_REUSE_UNICASTPORT draws from) and
         restores both afterwards, also when a check fails. Other programs
         on the host share that range for the few seconds it is cut.

    Prints PASS, FAIL or SKIP per check; the exit status is the number of
    failed checks. Everything it starts is stopped by its process id.
#>
[CmdletBinding()]
param(
    [string]$Exe = "C:\Program Files\PumpkinLB\pumpkinlb.exe",
    [int]$Connections = 2000,
    [int]$RangeStart = 50000,
    [int]$RangePorts = 1000,
    [switch]$SkipPortRange
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = "Stop"

$principal = New-Object Security.Principal.WindowsPrincipal(
    [Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole(
        [Security.Principal.WindowsBuiltInRole]::Administrator)) {
    [Console]::Error.WriteLine("Run this from an elevated PowerShell (netsh needs it).")
    exit 100
}
if (-not (Test-Path -LiteralPath $Exe)) {
    [Console]::Error.WriteLine("No pumpkinlb.exe at '$Exe' (pass -Exe PATH).")
    exit 100
}

# Sockets the checks need and PowerShell does not offer: backends that
# hold or reset connections, clients bound to a port of their own, and
# the end a client sees (FIN or reset). C# 5, for Windows PowerShell 5.1.
Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

public static class LbCheck
{
    public static int FreePort()
    {
        TcpListener l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    // A backend: accepts on a thread of its own. Mode "hold" keeps every
    // connection open and silent; "payload-reset" reads a line, sends
    // Payload, waits ResetAfterMs and resets (linger 0).
    public class Backend
    {
        public int Port;
        public int Accepted;
        public byte[] Payload = new byte[0];
        public int ResetAfterMs = 1000;
        public volatile bool ResetSent;
        string mode;
        TcpListener listener;
        List<Socket> held = new List<Socket>();
        volatile bool stopping;

        public Backend(string mode)
        {
            this.mode = mode;
            listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start(4096);
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            Thread t = new Thread(Run);
            t.IsBackground = true;
            t.Start();
        }

        void Run()
        {
            try {
                while (!stopping) {
                    Socket s = listener.AcceptSocket();
                    lock (held) { held.Add(s); Accepted++; }
                    if (mode == "payload-reset") {
                        Thread t = new Thread(Serve);
                        t.IsBackground = true;
                        t.Start(s);
                    }
                }
            } catch (SocketException) {
            } catch (ObjectDisposedException) {
            }
        }

        void Serve(object o)
        {
            Socket s = (Socket)o;
            try {
                byte[] b = new byte[1];
                while (s.Receive(b) == 1 && b[0] != (byte)'\n') {
                }
                s.Send(Payload);
                Thread.Sleep(ResetAfterMs);
                s.LingerState = new LingerOption(true, 0);
                s.Close();
                ResetSent = true;
            } catch (SocketException) {
            } catch (ObjectDisposedException) {
            }
        }

        public void Stop()
        {
            stopping = true;
            listener.Stop();
            lock (held) {
                foreach (Socket s in held) {
                    try { s.Close(); } catch (SocketException) { }
                }
                held.Clear();
            }
        }
    }

    // A client from 127.0.0.1:srcPort (0: any), receive buffer rcvbuf
    // bytes (0: the default).
    public static Socket Client(int port, int srcPort, int rcvbuf)
    {
        Socket s = new Socket(AddressFamily.InterNetwork, SocketType.Stream,
                              ProtocolType.Tcp);
        if (rcvbuf > 0)
            s.ReceiveBufferSize = rcvbuf;
        if (srcPort > 0)
            s.Bind(new IPEndPoint(IPAddress.Loopback, srcPort));
        s.Connect(new IPEndPoint(IPAddress.Loopback, port));
        return s;
    }

    // Clients from the first free source ports at and above firstSrc:
    // as many of n as connect; failures counted in errors.
    public static List<Socket> Clients(int port, int n, int firstSrc,
                                       out int errors)
    {
        List<Socket> list = new List<Socket>();
        int src = firstSrc;
        errors = 0;
        while (list.Count + errors < n && src < 65536) {
            Socket s = null;
            try {
                s = new Socket(AddressFamily.InterNetwork, SocketType.Stream,
                               ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Loopback, src++));
            } catch (SocketException) {
                if (s != null) s.Close();
                continue; // that source port is taken: the next one
            }
            try {
                s.Connect(new IPEndPoint(IPAddress.Loopback, port));
                list.Add(s);
            } catch (SocketException) {
                s.Close();
                errors++;
            }
        }
        return list;
    }

    // How the peer ended the stream within ms: "fin", "reset", "data" or
    // "open"; bytes read on the way are counted in got.
    public static string End(Socket s, int ms, out int got)
    {
        byte[] buf = new byte[65536];
        got = 0;
        s.ReceiveTimeout = ms;
        try {
            while (true) {
                int n = s.Receive(buf);
                if (n == 0)
                    return "fin";
                got += n;
            }
        } catch (SocketException e) {
            if (e.SocketErrorCode == SocketError.ConnectionReset)
                return "reset";
            if (e.SocketErrorCode == SocketError.TimedOut)
                return got > 0 ? "data" : "open";
            throw;
        }
    }

    // The body of GET path, from the first free source port at or below
    // srcPort (the ephemeral range may be used up).
    public static string Get(int port, string path, int srcPort)
    {
        Socket s = null;
        for (int src = srcPort; s == null; src--) {
            try {
                s = Client(port, src, 0);
            } catch (SocketException) {
                if (src <= srcPort - 100)
                    throw;
            }
        }
        try {
            s.Send(Encoding.ASCII.GetBytes(
                "GET " + path + " HTTP/1.0\r\n\r\n"));
            StringBuilder sb = new StringBuilder();
            byte[] buf = new byte[65536];
            s.ReceiveTimeout = 10000;
            int n;
            while ((n = s.Receive(buf)) > 0)
                sb.Append(Encoding.UTF8.GetString(buf, 0, n));
            string text = sb.ToString();
            int body = text.IndexOf("\r\n\r\n");
            return body < 0 ? "" : text.Substring(body + 4);
        } finally {
            s.Close();
        }
    }

    [DllImport("ws2_32.dll", SetLastError = true)]
    static extern int WSAIoctl(IntPtr s, uint code, ref uint inBuf,
                               int inLen, byte[] outBuf, int outLen,
                               out int got, IntPtr ov, IntPtr routine);

    // SIO_TCP_INFO (version 0) works here: Windows 10 1703, Server 2016.
    public static bool HasTcpInfo()
    {
        TcpListener l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        try {
            Socket c = Client(((IPEndPoint)l.LocalEndpoint).Port, 0, 0);
            try {
                uint version = 0;
                byte[] info = new byte[88];
                int got;
                return WSAIoctl(c.Handle, 0xD8000027, ref version, 4, info,
                                info.Length, out got, IntPtr.Zero,
                                IntPtr.Zero) == 0;
            } finally {
                c.Close();
            }
        } finally {
            l.Stop();
        }
    }
}
'@

$Work = Join-Path ([IO.Path]::GetTempPath()) ("pumpkinlb-check-" + [Guid]::NewGuid())
New-Item -ItemType Directory -Path $Work | Out-Null
$script:Failed = 0
$script:Started = @()

function Report([string]$Name, [string]$Verdict, [string]$Detail) {
    Write-Output ("{0} {1}: {2}" -f $Verdict, $Name, $Detail)
    if ($Verdict -eq "FAIL") { $script:Failed++ }
}

# Starts pumpkinlb.exe on a config (its log in a file beside it); waits
# until every port in $Ports listens.
function Start-Lb([string]$Name, [string]$Config, [int[]]$Ports) {
    $cfg = Join-Path $Work "$Name.cfg"
    $log = Join-Path $Work "$Name.log"
    Set-Content -LiteralPath $cfg -Encoding Ascii `
        -Value ("[options]`r`nlog_file = $log`r`n" + $Config)
    $p = Start-Process -FilePath $Exe -ArgumentList "`"$cfg`"" -PassThru `
        -NoNewWindow -RedirectStandardOutput (Join-Path $Work "$Name.stdout") `
        -RedirectStandardError (Join-Path $Work "$Name.stderr")
    $script:Started += $p
    $deadline = (Get-Date).AddSeconds(15)
    foreach ($port in $Ports) {
        while (-not (Get-NetTCPConnection -State Listen -LocalPort $port `
                        -ErrorAction SilentlyContinue)) {
            if ($p.HasExited -or (Get-Date) -gt $deadline) {
                throw "pumpkinlb ($Name) is not listening on $port; see $Work"
            }
            Start-Sleep -Milliseconds 100
        }
    }
    return @{ Process = $p; Log = $log }
}

function Stop-Lb($Lb) {
    if (-not $Lb.Process.HasExited) {
        Stop-Process -Id $Lb.Process.Id -Force
        $Lb.Process.WaitForExit(10000) | Out-Null
    }
}

function Log-Text($Lb) {
    if (Test-Path -LiteralPath $Lb.Log) {
        return [IO.File]::ReadAllText($Lb.Log)
    }
    return ""
}

# The balancer closes client socket $C within 10 s, with a FIN.
function Expect-Fin([string]$Name, $C) {
    $got = 0
    $how = [LbCheck]::End($C, 10000, [ref]$got)
    $C.Close()
    if ($how -eq "fin") {
        Report $Name "PASS" "the client read a FIN"
    } else {
        Report $Name "FAIL" "the client saw '$how' (want fin)"
    }
}

# 1 and 2: idle_timeout and half_close_timeout end with a FIN.
function Check-TimeoutsEndWithFin {
    $b = [LbCheck+Backend]::new("hold")
    $port = [LbCheck]::FreePort()
    $lb = Start-Lb "timeouts" ("idle_timeout = 2`r`nhalf_close_timeout = 2`r`n" +
        "[mappings]`r`n127.0.0.1:$port = 127.0.0.1:$($b.Port)`r`n") @($port)
    try {
        $c = [LbCheck]::Client($port, 0, 0)
        Expect-Fin "idle_timeout close" $c
        $c = [LbCheck]::Client($port, 0, 0)
        $c.Shutdown([Net.Sockets.SocketShutdown]::Send)
        Expect-Fin "half_close_timeout close" $c
        $m = [regex]::Match((Log-Text $lb),
            "max_connections not set: at most (\d+) connections, for 1/8 of (\d+) MiB")
        if ($m.Success) {
            Report "connection cap" "PASS" ("derived {0} for {1} MiB of memory" -f
                $m.Groups[1].Value, $m.Groups[2].Value)
        } else {
            Report "connection cap" "FAIL" "no derived cap on the start line ($($lb.Log))"
        }
    } finally {
        Stop-Lb $lb
        $b.Stop()
    }
}

# 3: the statistics server lingers for the client's FIN, then closes
# without a reset.
function Check-StatsLinger {
    $b = [LbCheck+Backend]::new("hold")
    $port = [LbCheck]::FreePort()
    $stats = [LbCheck]::FreePort()
    $lb = Start-Lb "stats" ("stats = 127.0.0.1:$stats`r`n[mappings]`r`n" +
        "127.0.0.1:$port = 127.0.0.1:$($b.Port)`r`n") @($port, $stats)
    try {
        $c = [LbCheck]::Client($stats, 0, 0)
        $c.Send([Text.Encoding]::ASCII.GetBytes(
            "GET /stats.json HTTP/1.0`r`n`r`n")) | Out-Null
        $got = 0
        $how = [LbCheck]::End($c, 10000, [ref]$got)
        Start-Sleep -Seconds 3 # past the 2 s linger: the server closed
        $after = [LbCheck]::End($c, 2000, [ref]$got)
        $c.Close()
        if ($how -eq "fin" -and $after -eq "fin") {
            Report "stats linger close" "PASS" "answer, FIN, and no reset after the linger"
        } else {
            Report "stats linger close" "FAIL" "answer ended by '$how', then '$after' (want fin, fin)"
        }
    } finally {
        Stop-Lb $lb
        $b.Stop()
    }
}

# 4: a backend sends 8 KiB and resets; the client (4 KiB receive buffer)
# reads only after the reset was sent, and still gets all 8 KiB first.
# What its window cannot take waits in the balancer's send buffer, which
# a reset at once would throw away.
function Check-DrainThenReset {
    if (-not [LbCheck]::HasTcpInfo()) {
        Report "drain-then-reset" "SKIP" "no SIO_TCP_INFO here (before Windows 10 1703 / Server 2016): the reset goes at once"
        return
    }
    $b = [LbCheck+Backend]::new("payload-reset")
    $b.Payload = New-Object byte[] 8192
    for ($i = 0; $i -lt $b.Payload.Length; $i++) { $b.Payload[$i] = [byte]($i % 251) }
    $port = [LbCheck]::FreePort()
    $lb = Start-Lb "drain" ("[mappings]`r`n127.0.0.1:$port = 127.0.0.1:$($b.Port)`r`n") @($port)
    try {
        $c = [LbCheck]::Client($port, 0, 4096)
        $c.Send([Text.Encoding]::ASCII.GetBytes("go`n")) | Out-Null
        $deadline = (Get-Date).AddSeconds(10)
        while (-not $b.ResetSent -and (Get-Date) -lt $deadline) {
            Start-Sleep -Milliseconds 100
        }
        Start-Sleep -Seconds 1 # the reset reaches the balancer
        $got = 0
        $how = [LbCheck]::End($c, 15000, [ref]$got)
        $c.Close()
        if ($got -eq 8192 -and $how -eq "reset") {
            Report "drain-then-reset" "PASS" "8192 bytes, then the reset"
        } else {
            Report "drain-then-reset" "FAIL" "$got of 8192 bytes, then '$how' (want all, then reset)"
        }
    } finally {
        Stop-Lb $lb
        $b.Stop()
    }
}

# Start port, then number of ports: the two "label : number" lines of
# netsh's answer (the labels are translated, the order is not).
function Get-DynamicRange {
    $text = (netsh int ipv4 show dynamicport tcp) -join "`n"
    $m = [regex]::Matches($text, ":\s*(\d+)")
    if ($m.Count -ne 2) {
        throw "cannot read 'netsh int ipv4 show dynamicport tcp': $text"
    }
    return @{ Start = [int]$m[0].Groups[1].Value; Num = [int]$m[1].Groups[1].Value }
}

function Set-DynamicRange([int]$Start, [int]$Num) {
    $out = netsh int ipv4 set dynamicport tcp start=$Start num=$Num
    if ($LASTEXITCODE -ne 0) { throw "netsh set dynamicport failed: $out" }
}

# 5: 2,000 backend connections, four backends, 1,000 dynamic ports.
function Check-PortRange {
    $old = Get-DynamicRange
    $reuseParam = (Get-Command Set-NetTCPSetting -ErrorAction SilentlyContinue) -and
        (Get-Command Set-NetTCPSetting).Parameters.ContainsKey("AutoReusePortRangeStartPort")
    $oldReuse = @()
    if ($reuseParam) {
        $oldReuse = @(Get-NetTCPSetting -SettingName InternetCustom, DatacenterCustom |
            Select-Object SettingName, AutoReusePortRangeStartPort, AutoReusePortRangeNumberOfPorts)
    }
    $backends = @()
    for ($i = 0; $i -lt 4; $i++) { $backends += [LbCheck+Backend]::new("hold") }
    $port = [LbCheck]::FreePort()
    $stats = [LbCheck]::FreePort()
    $list = ($backends | ForEach-Object { "127.0.0.1:$($_.Port)" }) -join ", "
    $lb = $null
    $clients = $null
    try {
        Set-DynamicRange $RangeStart $RangePorts
        if ($reuseParam) {
            # SO_REUSE_UNICASTPORT draws from this range, shared between
            # destinations; 0 ports (the default) turns the sharing off.
            try {
                foreach ($s in $oldReuse) {
                    Set-NetTCPSetting -SettingName $s.SettingName `
                        -AutoReusePortRangeStartPort ($RangeStart + $RangePorts) `
                        -AutoReusePortRangeNumberOfPorts $RangePorts
                }
            } catch {
                Write-Output "cannot set the auto-reuse port range: $($_.Exception.Message)"
                $reuseParam = $false
            }
        }
        $lb = Start-Lb "ports" ("max_fails = 1`r`nfail_timeout = 60`r`n" +
            "max_connections = $($Connections + 100)`r`nstats = 127.0.0.1:$stats`r`n" +
            "[mappings]`r`n127.0.0.1:$port = $list`r`n") @($port, $stats)
        # The clients bind their own ports below the cut range: the range
        # is the balancer's to use up.
        $errors = 0
        $clients = [LbCheck]::Clients($port, $Connections, 20000, [ref]$errors)
        $deadline = (Get-Date).AddSeconds(60)
        do {
            Start-Sleep -Milliseconds 500
            $held = ($backends | Measure-Object -Property Accepted -Sum).Sum
        } while ($held -lt $clients.Count -and (Get-Date) -lt $deadline)
        $json = [LbCheck]::Get($stats, "/stats.json", 19999) | ConvertFrom-Json
        $down = @($json.listeners[0].backends | Where-Object { $_.state -ne "up" })
        $log = Log-Text $lb
        if ($down.Count -eq 0 -and $log -notmatch "is DOWN") {
            Report "backends stay up" "PASS" "no backend taken out ($held of $Connections connected)"
        } else {
            Report "backends stay up" "FAIL" "$($down.Count) backend(s) out; see $($lb.Log)"
        }
        if ($held -eq $Connections -and $errors -eq 0) {
            Report "2,000 backend connections, 1,000 ports" "PASS" "all $held connected"
        } elseif (-not $reuseParam) {
            Report "2,000 backend connections, 1,000 ports" "SKIP" "$held connected: no auto-reuse port range on this Windows, so SO_REUSE_UNICASTPORT cannot share ports"
        } else {
            Report "2,000 backend connections, 1,000 ports" "FAIL" "$held of $Connections connected ($errors client errors); Get-NetTCPSetting shows the auto-reuse ranges"
        }
    } finally {
        if ($clients) { foreach ($c in $clients) { $c.Close() } }
        if ($lb) { Stop-Lb $lb }
        foreach ($b in $backends) { $b.Stop() }
        Set-DynamicRange $old.Start $old.Num
        foreach ($s in $oldReuse) {
            try {
                Set-NetTCPSetting -SettingName $s.SettingName `
                    -AutoReusePortRangeStartPort $s.AutoReusePortRangeStartPort `
                    -AutoReusePortRangeNumberOfPorts $s.AutoReusePortRangeNumberOfPorts
            } catch {
                Write-Output "restore $($s.SettingName) by hand: $($_.Exception.Message)"
            }
        }
        Write-Output ("dynamic port range restored: start={0} num={1}" -f $old.Start, $old.Num)
    }
}

try {
    Check-TimeoutsEndWithFin
    Check-StatsLinger
    Check-DrainThenReset
    if ($SkipPortRange) {
        Report "2,000 backend connections, 1,000 ports" "SKIP" "-SkipPortRange"
    } else {
        Check-PortRange
    }
} catch {
    Report "check-data-path" "FAIL" $_.Exception.Message
} finally {
    foreach ($p in $script:Started) {
        if (-not $p.HasExited) { Stop-Process -Id $p.Id -Force }
    }
    if ($script:Failed -eq 0) { Remove-Item -Recurse -Force -LiteralPath $Work }
    else { Write-Output "files kept in $Work" }
}
exit $script:Failed
