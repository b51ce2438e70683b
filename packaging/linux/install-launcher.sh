#!/usr/bin/env bash
# Put LiveDet in the desktop's application menu for the current user (no root needed):
# the .desktop entry, the icon in every hicolor size and the AppStream metainfo, all under
# $XDG_DATA_HOME (~/.local/share by default).
#
#   bash packaging/linux/install-launcher.sh                 # launches the installed `livedet`
#   bash packaging/linux/install-launcher.sh --exec PATH     # launches PATH instead (e.g. a bundle)
#   bash packaging/linux/install-launcher.sh --uninstall
#
# The installed `livedet` is the one on PATH, else the one in this checkout's .venv (`make setup`).
# The menu entry gets its absolute path, because a desktop session's PATH rarely has a venv in it.
set -euo pipefail

APP_ID=io.github.livedet.LiveDet
SIZES=(16 24 32 48 64 128 256 512)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor"
metainfo="$data/metainfo"

usage() { sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

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

refresh_menus() {
  # Most desktops watch these folders; the caches are for those that do not. A user-level icon
  # cache is only refreshed when one exists: a stale one would hide icons installed later.
  if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q "$apps" || true; fi
  touch "$icons" 2>/dev/null || true
  if [ -f "$icons/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$icons" || true
  fi
}

if [ "$action" = uninstall ]; then
  rm -f "$apps/$APP_ID.desktop" "$metainfo/$APP_ID.metainfo.xml" "$icons/scalable/apps/$APP_ID.svg"
  for size in "${SIZES[@]}"; do rm -f "$icons/${size}x${size}/apps/$APP_ID.png"; done
  [ -d "$apps" ] && refresh_menus
  echo "Removed the LiveDet launcher from $data"
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

# The Exec key has its own quoting: a path with spaces or special characters goes in double
# quotes with " ` $ \ backslash-escaped, a literal % is %%, and the .desktop format then doubles
# every backslash once more.
exec_value() {
  local s=$1
  if [[ ! "$s" =~ ^[A-Za-z0-9_./+,:@=-]+$ ]]; then
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//\`/\\\`}; s=${s//\$/\\\$}
    s="\"$s\""
  fi
  s=${s//%/%%}
  printf '%s' "${s//\\/\\\\}"
}

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
tmp="$workdir/$APP_ID.desktop"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    Exec=*) printf 'Exec=%s %%f\n' "$(exec_value "$exec_path")" ;;  # %f: the file Open With passes
    TryExec=*) printf 'TryExec=%s\n' "${exec_path//\\/\\\\}" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$here/$APP_ID.desktop" > "$tmp"
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$tmp" || { echo "error: the generated launcher is not valid" >&2; exit 1; }
fi
install -D -m 644 "$tmp" "$apps/$APP_ID.desktop"

for size in "${SIZES[@]}"; do
  install -D -m 644 "$repo/assets/icons/livedet-$size.png" "$icons/${size}x${size}/apps/$APP_ID.png"
done
install -D -m 644 "$repo/assets/icons/livedet.svg" "$icons/scalable/apps/$APP_ID.svg"
install -D -m 644 "$here/$APP_ID.metainfo.xml" "$metainfo/$APP_ID.metainfo.xml"
refresh_menus

echo "Installed the LiveDet launcher: $apps/$APP_ID.desktop"
echo "It runs: $exec_path"
