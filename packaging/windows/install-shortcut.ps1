<#
.SYNOPSIS
Adds LiveDet to the Start menu of the current user (no administrator rights needed).

.DESCRIPTION
Creates "LiveDet.lnk" in the user's Start menu Programs folder. It starts the installed
livedet.exe (the one on PATH, else the one in this checkout's .venv), or -Target, for example
the PyInstaller build dist\LiveDet\LiveDet.exe. The icon is copied to %LOCALAPPDATA%\LiveDet\launcher
so the shortcut keeps it when the checkout moves.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File packaging\windows\install-shortcut.ps1
.EXAMPLE
powershell -ExecutionPolicy Bypass -File packaging\windows\install-shortcut.ps1 -Target dist\LiveDet\LiveDet.exe
.EXAMPLE
powershell -ExecutionPolicy Bypass -File packaging\windows\install-shortcut.ps1 -Uninstall
#>
param(
    [string]$Target = "",
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"

$repo = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$programs = [Environment]::GetFolderPath("Programs")  # %APPDATA%\Microsoft\Windows\Start Menu\Programs
$link = Join-Path $programs "LiveDet.lnk"
# a folder of its own: %LOCALAPPDATA%\LiveDet also holds the app's cache, which -Uninstall deleted with it
$iconDir = Join-Path (Join-Path $env:LOCALAPPDATA "LiveDet") "launcher"

if ($Uninstall) {
    Remove-Item -LiteralPath $link -Force -ErrorAction SilentlyContinue
    Remove-Item -LiteralPath $iconDir -Recurse -Force -ErrorAction SilentlyContinue
    # where the icon went before it had a folder of its own (only that file: the cache is beside it)
    Remove-Item -LiteralPath (Join-Path (Join-Path $env:LOCALAPPDATA "LiveDet") "livedet.ico") -Force -ErrorAction SilentlyContinue
    Write-Host "Removed the LiveDet Start menu shortcut"
    exit 0
}

if (-not $Target) {
    $found = Get-Command livedet.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($found) { $Target = $found.Source } else { $Target = Join-Path $repo ".venv\Scripts\livedet.exe" }
}
if (-not (Test-Path -LiteralPath $Target -PathType Leaf)) {
    [Console]::Error.WriteLine("error: no LiveDet executable at '$Target'.")
    [Console]::Error.WriteLine("Install LiveDet first (pip install -e . in the checkout), or pass -Target PATH.")
    exit 1
}
$Target = (Resolve-Path -LiteralPath $Target).Path

New-Item -ItemType Directory -Force -Path $iconDir | Out-Null
$icon = Join-Path $iconDir "livedet.ico"
Copy-Item -LiteralPath (Join-Path $repo "assets\icons\livedet.ico") -Destination $icon -Force

$shell = New-Object -ComObject WScript.Shell
$shortcut = $shell.CreateShortcut($link)
$shortcut.TargetPath = $Target
$shortcut.WorkingDirectory = Split-Path -Parent $Target
$shortcut.IconLocation = "$icon,0"
$shortcut.Description = "Detect objects live in camera feeds and video files"
$shortcut.Save()

Write-Host "Installed the LiveDet Start menu shortcut: $link"
Write-Host "It runs: $Target"
