#!/usr/bin/env bash
# install-go.sh: make sure a Go of 1.21 or later is installed, and print its
# path. Such a Go fetches the exact toolchain go.mod asks for by itself
# (GOTOOLCHAIN=auto). Tries, in order: go on PATH, /usr/local/go, the
# distribution's golang-go, and on Debian the newest golang-1.2x-go from
# backports (Debian 12's own Go is 1.19).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

ok() { [ -x "$1" ] && "$1" version 2>/dev/null | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'; }
found() {
  # Debian's golang-1.2x-go installs into /usr/lib/go-1.2x;
  # its go finds its GOROOT from there, not through a symbolic link.
  for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/local/bin/go /usr/lib/go-1.*/bin/go; do
    if [ -n "$g" ] && ok "$g"; then echo "$g"; return 0; fi
  done
  return 1
}

if found; then exit 0; fi
echo "install-go: installing a Go to build netlab with" >&2
apt-get update -qq
apt-get install -y -qq golang-go >/dev/null 2>&1 || true
if found; then exit 0; fi
# shellcheck source=/dev/null
. /etc/os-release
if [ "${ID:-}" = debian ]; then
  echo "deb http://deb.debian.org/debian ${VERSION_CODENAME}-backports main" >/etc/apt/sources.list.d/netlab-backports.list
  apt-get update -qq
  pkg=$(apt-cache search --names-only '^golang-1\.[2-9][0-9]-go$' | awk '{print $1}' | sort -V | tail -n1)
  if [ -n "$pkg" ]; then
    apt-get install -y -qq -t "${VERSION_CODENAME}-backports" "$pkg" >/dev/null
  fi
fi
if found; then exit 0; fi
echo "install-go: no Go 1.21 or later could be installed: install one from https://go.dev/dl" >&2
exit 1
