#!/usr/bin/env bash
# Installs the Debian packages the test-suite needs, once. Safe to re-run; skips when present.
# GStreamer RTSP server: the RTSP source test. libcoap3-bin (coap-client): the CoAP uplink interop test.
set -euo pipefail
pkgs=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-ugly gstreamer1.0-rtsp libcoap3-bin)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "apt_test_deps: missing ${missing[*]} (run as root to install; RTSP and CoAP interop tests will be skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
