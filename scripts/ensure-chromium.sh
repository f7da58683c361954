#!/bin/sh
# The browser check needs a headless Chromium. Install Debian's package when missing and allowed.
for c in chromium chromium-browser google-chrome; do
  command -v "$c" >/dev/null 2>&1 && exit 0
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian chromium for the browser check ..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "error: the browser check needs Chromium: install it (Debian: sudo apt-get install chromium)" >&2
exit 1
