# Source this file: installs Debian's Chromium (for the dashboard's browser tests) when it is missing.
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: installing Debian's chromium" >&2
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null) || echo "ensure-chromium: apt-get install chromium failed" >&2
  else
    echo "ensure-chromium: not root; run: sudo apt-get install -y chromium" >&2
  fi
fi
