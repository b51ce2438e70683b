#!/usr/bin/env bash
# Qt (PySide6) needs a few system libraries that a bare Debian/Ubuntu lacks: libpulse for
# QtMultimedia (camera names), EGL/GL/xkbcommon/fontconfig for the widgets and the offscreen
# platform. Install them when they are missing and we are allowed to; otherwise say which.
set -u
PATH="$PATH:/usr/sbin:/sbin"  # ldconfig lives there, outside a Debian user's PATH (every library read as missing)
need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib libpulse.so.0      || need+=(libpulse0)
have_lib libEGL.so.1        || need+=(libegl1)
have_lib libGL.so.1         || need+=(libgl1)
have_lib libxkbcommon.so.0  || need+=(libxkbcommon0)
have_lib libfontconfig.so.1 || need+=(libfontconfig1)
have_lib libdbus-1.so.3     || need+=(libdbus-1-3)
have_lib libglib-2.0.so.0   || need+=(libglib2.0-0)
# the X11 platform plugin (libqxcb): without libxcb-cursor0 alone (Qt 6.5+) an X11 session's window does not open
have_lib libxcb-cursor.so.0      || need+=(libxcb-cursor0)
have_lib libxcb-icccm.so.4       || need+=(libxcb-icccm4)
have_lib libxcb-image.so.0       || need+=(libxcb-image0)
have_lib libxcb-keysyms.so.1     || need+=(libxcb-keysyms1)
have_lib libxcb-render-util.so.0 || need+=(libxcb-render-util0)
have_lib libxcb-shape.so.0       || need+=(libxcb-shape0)
have_lib libxkbcommon-x11.so.0   || need+=(libxkbcommon-x11-0)
[ "$(uname -s)" = Linux ] || exit 0
# Debian and Ubuntu split venv's pip bootstrap off Python: "ensurepip is not available" stopped make at once
py="${PYTHON:-python3}"
venv_pkg=""
if command -v "$py" >/dev/null 2>&1 && ! "$py" -c "import ensurepip" >/dev/null 2>&1; then
  venv_pkg="python$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
  need+=("$venv_pkg")
fi
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
  if [ "$sudo" != none ]; then
    echo "Installing the system packages LiveDet needs: ${need[*]}"
    # through env: sudo's env_reset drops a variable set before it, and debconf could stop make with a question
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null && exit 0
  fi
fi
if [ -n "$venv_pkg" ] && ! "$py" -c "import ensurepip" >/dev/null 2>&1; then  # without it make cannot go on
  echo "error: $py cannot make a virtual environment: install the $venv_pkg package" >&2
  command -v apt-get >/dev/null 2>&1 && echo "  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "warning: Qt needs these system libraries, please install them: ${need[*]}" >&2
command -v apt-get >/dev/null 2>&1 && echo "  sudo apt-get install -y ${need[*]}" >&2
exit 0
