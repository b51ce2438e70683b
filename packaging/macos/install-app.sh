#!/usr/bin/env bash
# Make ~/Applications/LiveDet.app, so LiveDet starts from Finder, Launchpad and Spotlight.
# The app is a thin wrapper that runs the installed `livedet` (the PyInstaller build makes a
# self-contained dist/LiveDet.app instead; copy that one to ~/Applications to use it).
#
#   bash packaging/macos/install-app.sh                  # wraps the installed `livedet`
#   bash packaging/macos/install-app.sh --exec PATH      # wraps PATH instead
#   bash packaging/macos/install-app.sh --uninstall
#
# The installed `livedet` is the one on PATH, else the one in this checkout's .venv (`make setup`).
# $LIVEDET_APPLICATIONS_DIR overrides ~/Applications.
set -euo pipefail

APP_ID=io.github.livedet.LiveDet
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
app="${LIVEDET_APPLICATIONS_DIR:-$HOME/Applications}/LiveDet.app"

usage() { sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Only a wrapper this script made is replaced or removed: the PyInstaller LiveDet.app copied to the same
# place was deleted without a word by a reinstall or --uninstall
marker="$app/Contents/Resources/made-by-install-app.sh"
wrapper_line="# Finder starts apps with a bare environment; hand over to the installed LiveDet."
refuse_others() {  # (a wrapper made before the marker is known by its launcher's comment)
  if [ -e "$app" ] && [ ! -f "$marker" ] && ! grep -qxF "$wrapper_line" "$app/Contents/MacOS/LiveDet" 2>/dev/null; then
    echo "error: $app was not made by this script (the PyInstaller app?): left as it is; remove it yourself" \
         "to $1" >&2
    exit 1
  fi
}

exec_path=""
action=install
while [ $# -gt 0 ]; do
  case "$1" in
    --exec) [ $# -ge 2 ] || { echo "--exec needs a path" >&2; exit 2; }; exec_path="$2"; shift 2 ;;
    --exec=*) exec_path="${1#--exec=}"; shift ;;
    --uninstall) action=uninstall; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$action" = uninstall ]; then
  [ -e "$app" ] || { echo "Nothing to remove: no $app"; exit 0; }
  refuse_others "uninstall it"
  rm -rf "$app"
  echo "Removed $app"
  exit 0
fi

if [ -z "$exec_path" ]; then
  exec_path="$(command -v livedet || true)"
  [ -n "$exec_path" ] || exec_path="$repo/.venv/bin/livedet"
fi
if [ ! -f "$exec_path" ] || [ ! -x "$exec_path" ]; then
  echo "error: no LiveDet executable at '$exec_path'." >&2
  echo "Install LiveDet first (make setup, or pip install -e .), or pass --exec PATH." >&2
  exit 1
fi
exec_path="$(cd "$(dirname "$exec_path")" && pwd)/$(basename "$exec_path")"
version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)"

refuse_others "install the wrapper there"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp "$repo/assets/icons/livedet.icns" "$app/Contents/Resources/livedet.icns"
echo "$exec_path" > "$marker"

# printf %q quotes the path for the shell whatever characters it holds.
{
  echo '#!/bin/bash'
  echo "$wrapper_line"
  printf 'exec %q "$@"\n' "$exec_path"
} > "$app/Contents/MacOS/LiveDet"
chmod 755 "$app/Contents/MacOS/LiveDet"

cat > "$app/Contents/Info.plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleName</key><string>LiveDet</string>
  <key>CFBundleDisplayName</key><string>LiveDet</string>
  <key>CFBundleIdentifier</key><string>$APP_ID</string>
  <key>CFBundleExecutable</key><string>LiveDet</string>
  <key>CFBundleIconFile</key><string>livedet.icns</string>
  <key>CFBundlePackageType</key><string>APPL</string>
  <key>CFBundleInfoDictionaryVersion</key><string>6.0</string>
  <key>CFBundleShortVersionString</key><string>${version:-0.0.0}</string>
  <key>CFBundleVersion</key><string>${version:-0.0.0}</string>
  <key>NSHighResolutionCapable</key><true/>
  <key>NSCameraUsageDescription</key><string>LiveDet detects objects in the live picture from your camera.</string>
</dict>
</plist>
EOF
# Tell Launch Services now rather than at the next login, when the tool is there (macOS only).
lsregister=/System/Library/Frameworks/CoreServices.framework/Frameworks/LaunchServices.framework/Support/lsregister
if [ -x "$lsregister" ]; then "$lsregister" -f "$app" || true; fi

echo "Installed $app"
echo "It runs: $exec_path"
