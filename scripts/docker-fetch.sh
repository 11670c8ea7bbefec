#!/usr/bin/env bash
# docker-fetch.sh VERSION DIR: fetch real Docker of VERSION (20.10 or 28.5)
# as Debian packages and unpack them into DIR, for docker-reference.sh to
# run. Nothing is installed into the system: `apt-get download` fetches the
# .deb files, `dpkg -x` unpacks them, DIR/usr/sbin and DIR/usr/bin hold
# dockerd, docker-proxy, docker, containerd, its shim and runc.
#
#   20.10  Debian 12's docker.io 20.10.24, containerd and runc, through the
#          machine's own apt sources (bookworm).
#   28.5   Debian unstable's docker.io and docker-cli 28.5.2 and containerd
#          2.1, through a private apt configuration of this script's (its
#          own sources list, lists and cache under DIR's .apt, signed by
#          Debian's archive key), with bookworm's runc 1.1.5 beside them.
#
# The steps by hand, for 28.5 (what this script does):
#   mkdir -p A/lists/partial A/cache/archives/partial
#   echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main' >A/sources.list
#   O="-o Dir::Etc::sourcelist=A/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=A/lists -o Dir::Cache=A/cache"
#   apt-get $O update && apt-get $O download docker.io docker-cli containerd tini
#   apt-get download runc            # bookworm's, from the machine's own sources
#   for f in *.deb; do dpkg -x "$f" DIR; done
# Needs root only for apt-get update of the private lists (any user can
# run it with a writable DIR); the network reaches Debian's mirror.
set -euo pipefail
export LC_ALL=C
version=${1:?usage: docker-fetch.sh 20.10|28.5 DIR}
dir=${2:?usage: docker-fetch.sh 20.10|28.5 DIR}
case $version in
  20.10) want='^Docker version 20\.10\.' ;;
  28.5) want='^Docker version 28\.5\.' ;;
  *) echo "docker-fetch: no such version: $version (20.10 or 28.5)" >&2; exit 2 ;;
esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -x "$dir/usr/sbin/dockerd" ] && "$dir/usr/sbin/dockerd" --version | grep -qE "$want"; then
  echo "docker-fetch: $("$dir/usr/sbin/dockerd" --version) already in $dir"
  exit 0
fi
debs=$dir/.debs
mkdir -p "$debs"
chmod 0777 "$debs" # apt-get download hands the fetch to its _apt user
cd "$debs"
case $version in
  20.10)
    apt-get download docker.io containerd runc tini
    ;;
  28.5)
    a=$dir/.apt
    mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
    echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main' >"$a/sources.list"
    opts=(-o "Dir::Etc::sourcelist=$a/sources.list" -o "Dir::Etc::sourceparts=-"
      -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o "APT::Architecture=amd64")
    apt-get "${opts[@]}" -qq update
    apt-get "${opts[@]}" download docker.io docker-cli containerd tini
    apt-get download runc
    ;;
esac
for f in *.deb; do dpkg -x "$f" "$dir"; done
got=$("$dir/usr/sbin/dockerd" --version)
echo "$got" | grep -qE "$want" || { echo "docker-fetch: wanted $version, got: $got" >&2; exit 1; }
echo "docker-fetch: $got in $dir"
