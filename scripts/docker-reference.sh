#!/usr/bin/env bash
# docker-reference.sh OUTDIR: record what real Docker does, for netlab's
# tests to compare its Docker model with (bridge/testdata/docker-20.10).
#
# Debian 12's docker.io (dockerd 20.10) runs in network namespaces of this
# script's own, never in the machine's: a "node" namespace holds dockerd,
# docker0 and the containers (eth1 192.168.56.11), an "outside" one plays
# the rest of the world (eth1 192.168.56.1). For each of Docker's two
# layouts of a published port (userland-proxy true, Docker's default, and
# false) it starts dockerd, runs c1 (published 8080:80) and c2 from an image
# imported from busybox-static, whose httpd answers "client=<address>", and
# records in OUTDIR/<layout>/:
#   answers.txt   each probe of netlab's docker tests: who asked what, whom c1 saw
#   iptables.txt  iptables-save of the node, counters and docker's random names out
#   links.txt     ip -d link of docker0, c1's eth0 and its veth, MACs kept
#   sysctls.txt   the sysctls Docker sets in the node and in a container
# Needs root, docker.io and busybox-static (apt-get install docker.io
# busybox-static); no registry: the image is imported from a directory.
set -euo pipefail
export LC_ALL=C
out=${1:?usage: docker-reference.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
for tool in dockerd containerd runc busybox ip curl; do
  command -v "$tool" >/dev/null || { echo "docker-reference: $tool is missing (apt-get install docker.io busybox-static)" >&2; exit 1; }
done
DOCKER=/usr/bin/docker # Debian's client, of the same version as dockerd
tmp=$(mktemp -d /tmp/netlab-docker-ref.XXXXXX)
node=dref-$$-node
outside=dref-$$-outside

cleanup() {
  if [ -S "$tmp/docker.sock" ]; then
    "$DOCKER" -H "unix://$tmp/docker.sock" rm -f c1 c2 >/dev/null 2>&1 || true
  fi
  for p in $(ip netns pids "$node" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in $(ip netns pids "$node" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$node" 2>/dev/null || true
  ip netns del "$outside" 2>/dev/null || true
  # dockerd's mounts were in its own mount namespace, gone with it.
  rm -rf --one-file-system "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# machines: the node and the outside host, and the wire between them (a
# fresh node each time: what dockerd leaves in it goes with it).
machines() {
  ip netns del "$node" 2>/dev/null || true
  ip netns del "$outside" 2>/dev/null || true
  ip netns add "$node"
  ip netns add "$outside"
  ip -n "$node" link set lo up
  ip -n "$outside" link set lo up
  ip -n "$node" link add eth1 type veth peer name eth1 netns "$outside"
  ip -n "$node" addr add 192.168.56.11/24 dev eth1
  ip -n "$outside" addr add 192.168.56.1/24 dev eth1
  ip -n "$node" link set eth1 up
  ip -n "$outside" link set eth1 up
  ip -n "$node" route add default via 192.168.56.1
}

# The image: busybox-static's httpd, with a CGI that says whom it saw.
rootfs=$tmp/rootfs
mkdir -p "$rootfs/bin" "$rootfs/www/cgi-bin" "$rootfs/tmp"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for applet in sh httpd nc printf cat echo sleep; do ln -s busybox "$rootfs/bin/$applet"; done
# shellcheck disable=SC2016 # $REMOTE_ADDR is the CGI's, in the container
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "client=$REMOTE_ADDR"\n' >"$rootfs/www/cgi-bin/who"
chmod 0755 "$rootfs/www/cgi-bin/who"
tar -C "$rootfs" -cf "$tmp/image.tar" .

# dockerd, inside the node's namespaces: `ip netns exec` mounts a /sys of
# the namespace, which hides the cgroup hierarchies: mount them again.
cat >"$tmp/dockerd.sh" <<'EOF'
set -e
mount -t tmpfs cgroup_root /sys/fs/cgroup
grep -E '^cgroup2? ' /proc/1/mounts | while read -r _ dir type opts _; do
  mkdir -p "$dir"
  mount -t "$type" -o "$opts" "$type" "$dir" 2>/dev/null || mount -t "$type" "$type" "$dir"
done
# Whatever dockerd writes of its own in /etc/docker (its key) stays in
# this mount namespace.
[ -d /etc/docker ] && mount -t tmpfs etc_docker /etc/docker
exec dockerd --data-root "$TMP/data" --exec-root "$TMP/exec" --pidfile "$TMP/dockerd.pid" \
  -H "unix://$TMP/docker.sock" --userland-proxy="$PROXY" --ip-masq=true --iptables=true \
  --storage-driver=vfs --log-level=warn
EOF

d() { "$DOCKER" -H "unix://$tmp/docker.sock" "$@"; }
# ask CONTAINER HOST PORT: one HTTP request from inside a container, with
# busybox nc (its wget crashes in Docker's seccomp sandbox here).
ask() { d exec "$1" sh -c "printf 'GET /cgi-bin/who HTTP/1.0\r\n\r\n' | nc -w 5 $2 $3"; }

probe() { # probe FROM-DESCRIPTION COMMAND...: one line of answers.txt
  local what=$1 got
  shift
  echo "## $what" >>"$tmp/probes.log"
  got=$({ "$@"; echo "exit=$?"; } 2>&1 | tr -d "\r" | tee -a "$tmp/probes.log" | grep -o "client=[^ ]*" | sed "s/::ffff://; s/[][]//g" || true)
  if [ -z "$got" ]; then
    echo "docker-reference: no answer to $what:" >&2
    tail -5 "$tmp/probes.log" >&2
  fi
  echo "$what: ${got:-no answer}"
}

for proxy in true false; do
  machines
  layout=userland-proxy-$proxy
  mkdir -p "$out/$layout"
  rm -rf "${tmp:?}/data" "$tmp/exec"
  TMP=$tmp PROXY=$proxy ip netns exec "$node" unshare --mount --propagation private bash "$tmp/dockerd.sh" \
    >"$tmp/dockerd-$proxy.log" 2>&1 &
  for _ in $(seq 100); do d version >/dev/null 2>&1 && break; sleep 0.2; done
  d version >/dev/null 2>&1 || { cat "$tmp/dockerd-$proxy.log" >&2; exit 1; }
  d import "$tmp/image.tar" netlab/ref:latest >/dev/null
  d run -d --name c1 -p 8080:80 netlab/ref httpd -f -p 80 -h /www >/dev/null
  d run -d --name c2 netlab/ref httpd -f -p 80 -h /www >/dev/null
  sleep 1
  c1=$(d inspect -f '{{.NetworkSettings.IPAddress}}' c1)
  url=cgi-bin/who
  {
    probe "node -> 127.0.0.1:8080" ip netns exec "$node" curl -s -m 5 "127.0.0.1:8080/$url"
    probe "node -> NODE:8080" ip netns exec "$node" curl -s -m 5 "192.168.56.11:8080/$url"
    probe "outside -> NODE:8080" ip netns exec "$outside" curl -s -m 5 "192.168.56.11:8080/$url"
    probe "c2 -> NODE:8080" ask c2 192.168.56.11 8080
    probe "c2 -> GATEWAY:8080" ask c2 172.17.0.1 8080
    probe "c1 -> NODE:8080 (hairpin)" ask c1 192.168.56.11 8080
    probe "c2 -> c1:80" ask c2 "$c1" 80
    probe "node -> c1:80" ip netns exec "$node" curl -s -m 5 "$c1:80/$url"
  } >"$out/$layout/answers.txt"
  ip netns exec "$node" iptables-save | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//' >"$out/$layout/iptables.txt"
  c1pid=$(d inspect -f '{{.State.Pid}}' c1)
  # docker0's MAC is random (02:42 and four random bytes), c1's is not.
  {
    ip -n "$node" -d link show docker0 | sed -E 's/link\/ether [0-9a-f:]+/link\/ether 02:42:(random)/; s/(bridge_id|designated_root) [0-9a-f.:]+/\1 (from the MAC)/g'
    nsenter --target "$c1pid" --net ip -d link show eth0
  } | sed -E 's/^[0-9]+: //; s/@if[0-9]+//; s/ link-netns [^ ]+//; s/(hello|tcn|topology_change|gc|hold|message_age|forward_delay)_timer +[0-9.]+/\1_timer T/g' >"$out/$layout/links.txt"
  {
    for k in net.ipv4.ip_forward net.ipv4.conf.docker0.route_localnet net.bridge.bridge-nf-call-iptables; do
      echo "node $(ip netns exec "$node" sysctl "$k" 2>&1)"
    done
    for k in net.ipv4.ip_unprivileged_port_start net.ipv4.ping_group_range net.ipv4.conf.all.rp_filter \
      net.ipv6.conf.all.disable_ipv6; do
      echo "container $(nsenter --target "$c1pid" --net sysctl "$k" 2>&1)"
    done
    echo "docker0 hairpin: $(ip -n "$node" -d link show master docker0 | grep -o 'hairpin [a-z]*' | sort -u | tr '\n' ' ')"
  } | tr '\t' ' ' >"$out/$layout/sysctls.txt"
  d rm -f c1 c2 >/dev/null
  kill "$(cat "$tmp/dockerd.pid")"
  for _ in $(seq 50); do [ -S "$tmp/docker.sock" ] || break; sleep 0.2; done
  wait || true
  echo "docker-reference: $layout recorded in $out/$layout"
done
