#!/usr/bin/env bash
# docker-reference.sh [--root DIR] OUTDIR [LAYOUT...]: record what real
# Docker does, for netlab's tests to compare its Docker model with
# (bridge/testdata/docker-20.10 and docker-28.5; `make docker-reference`
# fetches both daemons with scripts/docker-fetch.sh and records both).
#
# The daemon runs in network namespaces of this script's own, never in the
# machine's: a "node" namespace holds dockerd, docker0 and the containers
# (eth1 192.168.56.11), an "outside" one plays the rest of the world (eth1
# 192.168.56.1, with a route to 172.17.0.0/16 via the node, as a learner
# adds one to try to reach a container directly). --root DIR takes dockerd,
# docker-proxy, docker, containerd and runc from DIR/usr/sbin and
# DIR/usr/bin (unpacked by docker-fetch.sh), else from the PATH.
#
# LAYOUTs (userland-proxy-true and userland-proxy-false unless named):
#   userland-proxy-true    Docker's default: docker-proxy on the published port
#   userland-proxy-false   rules only (hairpin, route_localnet)
#   allow-direct-routing   28's --allow-direct-routing, userland-proxy on
#   user-defined-networks  user-defined bridge networks (app, other, an internal
#                          one) with Docker's embedded DNS, and the network
#                          modes host, none and container:NAME (its own
#                          files, listed in record_networks)
#   ipv6                   dual-stack: --ipv6 --fixed-cidr-v6 fd00:172:17::/64,
#                          userland-proxy on; the wire between the node and
#                          the outside host has fd00:56::11 and fd00:56::1
#                          beside its IPv4 addresses, and the probes are
#                          asked in both families (routes.txt holds c1's and
#                          the node's IPv6 routes, neigh.txt how they found
#                          each other)
#   ipv6-userland-proxy-false  the same, with the rules only
# For each, it starts dockerd, runs c1 (published 8080:80) and c2 from an
# image imported from busybox-static, whose httpd answers
# "client=<address>", and records in OUTDIR/<layout>/:
#   answers.txt    each probe: who asked what, whom c1 (or c2) saw, or no answer
#   conntrack.txt  the node's connection tracking after each probe (DNAT or proxy)
#   iptables.txt   iptables-save of the node, every table, counters out
#   ip6tables.txt  ip6tables-save of the node
#   links.txt      ip -d link of docker0, c1's eth0, timers out
#   macs.txt       how Docker chose docker0's and c1's MACs
#   addrs.txt      the addresses of the node and of c1, link-local ones by kind
#   listeners.txt  what listens on the node (docker-proxy's addresses)
#   sysctls.txt    the sysctls Docker sets in the node and in a container
#   version.txt    dockerd --version
# Needs root, busybox-static, curl, conntrack and the daemon; no registry:
# the image is imported from a directory.
set -euo pipefail
export LC_ALL=C
root=
if [ "${1:-}" = --root ]; then
  root=$(cd "${2:?--root needs a directory}" && pwd)
  shift 2
  export PATH=$root/usr/sbin:$root/usr/bin:$PATH
fi
out=${1:?usage: docker-reference.sh [--root DIR] OUTDIR [LAYOUT...]}
shift
layouts=("$@")
[ ${#layouts[@]} -gt 0 ] || layouts=(userland-proxy-true userland-proxy-false)
for layout in "${layouts[@]}"; do
  case $layout in
    userland-proxy-true | userland-proxy-false | allow-direct-routing | user-defined-networks | ipv6 | ipv6-userland-proxy-false) ;;
    *) echo "docker-reference: no such layout: $layout (userland-proxy-true, userland-proxy-false, allow-direct-routing, user-defined-networks, ipv6, ipv6-userland-proxy-false)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
for tool in dockerd docker docker-proxy containerd containerd-shim-runc-v2 runc busybox ip curl conntrack ss dnsmasq; do
  command -v "$tool" >/dev/null || { echo "docker-reference: $tool is missing (scripts/docker-fetch.sh, apt-get install busybox-static curl conntrack dnsmasq-base)" >&2; exit 1; }
done
DOCKER=$(command -v docker) # the client of the same version as dockerd
tmp=$(mktemp -d /tmp/netlab-docker-ref.XXXXXX)
node=dref-$$-node
outside=dref-$$-outside

cleanup() {
  if [ -S "$tmp/docker.sock" ]; then
    "$DOCKER" -H "unix://$tmp/docker.sock" rm -f c1 c2 >/dev/null 2>&1 || true
  fi
  for p in $(ip netns pids "$node" 2>/dev/null) $(ip netns pids "$outside" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in $(ip netns pids "$node" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$node" 2>/dev/null || true
  ip netns del "$outside" 2>/dev/null || true
  # dockerd's mounts were in its own mount namespace, gone with it.
  rm -rf --one-file-system "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "docker-reference: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
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
  # The learner's way to a container without a published port: a route.
  ip -n "$outside" route add 172.17.0.0/16 via 192.168.56.11
  # The IPv6 wire, for the ipv6 layouts (no DAD: the addresses are ours
  # and usable at once).
  if [ "$v6" = 1 ]; then
    ip netns exec "$node" sysctl -qw net.ipv6.conf.eth1.accept_ra=0
    ip netns exec "$outside" sysctl -qw net.ipv6.conf.eth1.accept_ra=0
    ip -n "$node" addr add fd00:56::11/64 dev eth1 nodad
    ip -n "$outside" addr add fd00:56::1/64 dev eth1 nodad
    ip -n "$node" -6 route add default via fd00:56::1
    ip -n "$outside" -6 route add fd00:172:17::/64 via fd00:56::11
  fi
}

# The image: busybox-static's httpd, with a CGI that says whom it saw.
rootfs=$tmp/rootfs
mkdir -p "$rootfs/bin" "$rootfs/www/cgi-bin" "$rootfs/tmp"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for applet in sh httpd nc printf cat echo sleep nslookup; do ln -s busybox "$rootfs/bin/$applet"; done
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
# The node's resolver is the outside host, not this machine's: what
# Docker's embedded DNS forwards stays in the lab's namespaces.
printf 'nameserver 192.168.56.1\n' >"$TMP/resolv.conf"
mount --bind "$TMP/resolv.conf" /etc/resolv.conf
# shellcheck disable=SC2086 # $FLAGS are words
exec dockerd --data-root "$TMP/data" --exec-root "$TMP/exec" --pidfile "$TMP/dockerd.pid" \
  -H "unix://$TMP/docker.sock" $FLAGS --ip-masq=true --iptables=true \
  --storage-driver=vfs --log-level=warn
EOF

d() { "$DOCKER" -H "unix://$tmp/docker.sock" "$@"; }
# ask CONTAINER HOST PORT: one HTTP request from inside a container, with
# busybox nc (its wget crashes in Docker's seccomp sandbox here).
ask() { d exec "$1" sh -c "printf 'GET /cgi-bin/who HTTP/1.0\r\n\r\n' | nc -w 5 $2 $3"; }

# track: the node's connection tracking after a probe, one line per
# connection, ephemeral ports and timers out: "tcp 192.168.56.1 ->
# 192.168.56.11:8080 | reply 172.17.0.2:80" is a DNAT, a reply from the
# address asked is a connection docker-proxy took.
track() {
  echo "## $1"
  { ip netns exec "$node" conntrack -L -f ipv4 2>/dev/null; ip netns exec "$node" conntrack -L -f ipv6 2>/dev/null; } | awk '{
    proto = $1; n = 0; delete f
    for (i = 2; i <= NF; i++) if (split($i, kv, "=") == 2) { n++; f[n] = $i }
    # f: src dst [sport dport | type code id] then the reply direction
    split(f[1], a, "="); src = a[2]; split(f[2], a, "="); dst = a[2]
    if (proto == "icmp" || proto == "icmpv6") {
      split(f[7], a, "="); rsrc = a[2]
      print proto " " src " -> " dst " | reply " rsrc
    } else {
      split(f[4], a, "="); dport = a[2]
      split(f[5], a, "="); rsrc = a[2]; split(f[7], a, "="); rsport = a[2]
      print proto " " src " -> " dst ":" dport " | reply " rsrc ":" rsport
    }
  }' | sed -E 's/([0-9a-f:]+)%[a-z0-9]+/\1/g' | sort -u
}

probe() { # probe FROM-DESCRIPTION COMMAND...: one line of answers.txt
  local what=$1 got
  shift
  ip netns exec "$node" conntrack -F -f ipv4 >/dev/null 2>&1 || true
  ip netns exec "$node" conntrack -F -f ipv6 >/dev/null 2>&1 || true
  echo "## $what" >>"$tmp/probes.log"
  got=$({ "$@"; echo "exit=$?"; } 2>&1 | tr -d "\r" | tee -a "$tmp/probes.log" | grep -o "client=[^ ]*" | sed "s/::ffff://; s/[][]//g" || true)
  echo "$what: ${got:-no answer}"
  track "$what" >>"$tmp/conntrack.txt"
}

# ping_probe FROM-DESCRIPTION NETNS|pid:PID ADDRESS: does a ping get its reply?
ping_probe() {
  local what=$1 got="no answer" in=(ip netns exec "$2")
  case $2 in pid:*) in=(nsenter --target "${2#pid:}" --net) ;; esac
  ip netns exec "$node" conntrack -F -f ipv4 >/dev/null 2>&1 || true
  ip netns exec "$node" conntrack -F -f ipv6 >/dev/null 2>&1 || true
  "${in[@]}" ping -c 1 -W 2 "$3" >>"$tmp/probes.log" 2>&1 && got=reply
  echo "$what: $got"
  track "$what" >>"$tmp/conntrack.txt"
}

# mac_kind MAC IPV4: how a MAC was chosen, "02:42 + the address" (Docker
# 20.10's containers), "02:42 + random" (its bridge), or "random".
mac_kind() {
  local want
  IFS=. read -r -a octets <<<"$2"
  want=$(printf '02:42:%02x:%02x:%02x:%02x' "${octets[@]}")
  case $1 in
    "$want") echo "02:42 + the address" ;;
    02:42:*) echo "02:42 + random" ;;
    *) echo "random" ;;
  esac
}

# stop_dockerd: remove the containers and networks, stop dockerd.
stop_dockerd() {
  d rm -f c0 c1 c2 c3 c4 c5 c6 c7 c8 >/dev/null 2>&1 || true
  d network rm app other back >/dev/null 2>&1 || true
  kill "$(cat "$tmp/dockerd.pid")"
  for _ in $(seq 50); do [ -S "$tmp/docker.sock" ] || break; sleep 0.2; done
  wait || true
}

# record_networks DIR: user-defined bridge networks, as Compose makes them,
# and the network modes. Networks: app (c1, published 8080:80; c2 with the
# alias web), other (c3), back (--internal: c4), and c5 on both app and
# other; c6 shares c1's namespace (--network container:c1, httpd on 81), c7
# has none (--network none), c8 the node's (--network host, httpd on
# 8081), c0 is on the default bridge. The outside host runs a web server
# (port 80) and a DNS server (dnsmasq: www.example.test is 192.168.56.1,
# the rest of example.test does not exist, other names are refused), the node's resolver. Records
# in DIR:
#   answers.txt    the probes between them by address and by name
#   conntrack.txt  the node's connection tracking after each probe and DNS query
#   dns.txt        what each container's resolver answers (nslookup)
#   iptables.txt   iptables-save of the node, of c1 (DOCKER_OUTPUT,
#                  DOCKER_POSTROUTING) and of c4, c0 (the order of c5's two
#                  raw drops varies from one run to the next)
#   ip6tables.txt  ip6tables-save of the node
#   links.txt      the node's links (br-<id> per network), each container's addresses
#   routes.txt     each container's routes
#   resolv.txt     each container's /etc/resolv.conf
#   networks.txt   each network's subnet, gateway and bridge name
record_networks() {
  local dir=$1 n id c
  declare -A ip pids
  : >"$tmp/conntrack.txt"
  ip netns exec "$outside" dnsmasq --keep-in-foreground --no-resolv --no-hosts --host-record=www.example.test,192.168.56.1 \
    --local=/example.test/ --listen-address=192.168.56.1 --bind-interfaces --pid-file="$tmp/dnsmasq.pid" \
    --user=root >"$tmp/dnsmasq.log" 2>&1 &
  ip netns exec "$outside" busybox httpd -f -p 80 -h "$rootfs/www" &
  d network create app >/dev/null
  d network create other >/dev/null
  d network create --internal back >/dev/null
  local run=(netlab/ref httpd -f -p 80 -h /www)
  d run -d --name c0 "${run[@]}" >/dev/null
  d run -d --name c1 --network app -p 8080:80 "${run[@]}" >/dev/null
  d run -d --name c2 --network app --network-alias web "${run[@]}" >/dev/null
  d run -d --name c3 --network other "${run[@]}" >/dev/null
  d run -d --name c4 --network back "${run[@]}" >/dev/null
  d create --name c5 --network app "${run[@]}" >/dev/null
  d network connect other c5
  d start c5 >/dev/null
  d run -d --name c6 --network container:c1 netlab/ref httpd -f -p 81 -h /www >/dev/null
  d run -d --name c7 --network none "${run[@]}" >/dev/null
  d run -d --name c8 --network host netlab/ref httpd -f -p 8081 -h /www >/dev/null
  sleep 1
  for c in c0 c1 c2 c3 c4 c5; do
    ip[$c]=$(d inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$c" | awk '{print $1}')
  done
  ip[c5b]=$(d inspect -f '{{(index .NetworkSettings.Networks "other").IPAddress}}' c5)
  for c in c0 c1 c2 c3 c4 c5 c6 c7 c8; do pids[$c]=$(d inspect -f '{{.State.Pid}}' "$c"); done
  # names: the addresses as the names of their containers (c5 has two)
  names() { sed -e "s/${ip[c5b]}\b/C5-OTHER/g; s/${ip[c0]}\b/C0/g; s/${ip[c1]}\b/C1/g; s/${ip[c2]}\b/C2/g; s/${ip[c3]}\b/C3/g; s/${ip[c4]}\b/C4/g; s/${ip[c5]}\b/C5/g"; }
  {
    probe "c2 -> c1:80 (same network, by address)" ask c2 "${ip[c1]}" 80
    probe "c2 -> c1:80 (same network, by name)" ask c2 c1 80
    probe "c1 -> web:80 (c2's alias)" ask c1 web 80
    probe "c3 -> c1:80 (another network, by address)" ask c3 "${ip[c1]}" 80
    probe "c3 -> c1:80 (another network, by name)" ask c3 c1 80
    probe "c5 -> c1:80 (on app and other, by name)" ask c5 c1 80
    probe "c5 -> c3:80 (on app and other, by name)" ask c5 c3 80
    probe "c1 -> c5:80 (by name)" ask c1 c5 80
    probe "c3 -> c5:80 (by name)" ask c3 c5 80
    probe "c0 -> c1:80 (default bridge, by name)" ask c0 c1 80
    probe "c0 -> c1:80 (default bridge, by address)" ask c0 "${ip[c1]}" 80
    probe "c1 -> outside:80" ask c1 192.168.56.1 80
    probe "c4 -> outside:80 (internal network)" ask c4 192.168.56.1 80
    probe "c4 -> c1:80 (internal network, by address)" ask c4 "${ip[c1]}" 80
    probe "c2 -> C1:81 (c6, in c1's namespace)" ask c2 "${ip[c1]}" 81
    probe "c6 -> 127.0.0.1:80 (c1's server, same namespace)" ask c6 127.0.0.1 80
    probe "c7 -> c1:80 (network none)" ask c7 "${ip[c1]}" 80
    probe "outside -> NODE:8081 (c8, network host)" ip netns exec "$outside" curl -s -m 5 "192.168.56.11:8081/cgi-bin/who"
    probe "outside -> NODE:8080" ip netns exec "$outside" curl -s -m 5 "192.168.56.11:8080/cgi-bin/who"
    probe "node -> 127.0.0.1:8080" ip netns exec "$node" curl -s -m 5 "127.0.0.1:8080/cgi-bin/who"
    probe "c3 -> NODE:8080 (published, from another network)" ask c3 192.168.56.11 8080
  } | names >"$dir/answers.txt"
  {
    for q in "c1 c2" "c1 web" "c1 c5" "c1 c3" "c1 app" "c1 www.example.test" "c1 nope.example.test" \
      "c3 c1" "c3 c5" "c5 c1" "c5 c3" "c6 c2" "c4 c1" "c4 www.example.test" "c0 c1" "c0 www.example.test" "c8 www.example.test"; do
      read -r c n <<<"$q"
      echo "## $c: nslookup $n"
      ip netns exec "$node" conntrack -F -f ipv4 >/dev/null 2>&1 || true
      d exec "$c" nslookup "$n" 2>&1 | grep -v -e '^$' -e '^Non-authoritative answer:' || true
      track "$c: nslookup $n" >>"$tmp/conntrack.txt"
    done
  } | names | sed -e "s/#53\b//" >"$dir/dns.txt"
  names <"$tmp/conntrack.txt" >"$dir/conntrack.txt"
  {
    echo "# node"
    ip netns exec "$node" iptables-save | sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//'
    for c in c1 c4 c0; do
      echo "# $c"
      nsenter --target "${pids[$c]}" --net iptables-save | sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//; s/--to-source 127.0.0.11:[0-9]+/--to-source 127.0.0.11:(port)/; s/--to-destination 127.0.0.11:[0-9]+/--to-destination 127.0.0.11:(port)/; s/--sport [0-9]+ -j SNAT/--sport (port) -j SNAT/'
    done
  } >"$dir/iptables.txt"
  ip netns exec "$node" ip6tables-save | sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//' >"$dir/ip6tables.txt"
  for c in c0 c1 c4 c5 c6 c7 c8; do
    echo "# $c"
    d exec "$c" cat /etc/resolv.conf
  done >"$dir/resolv.txt"
  {
    for n in bridge app other back; do
      id=$(d network inspect -f '{{.Id}}' "$n")
      echo "$n: $(d network inspect -f '{{range .IPAM.Config}}{{.Subnet}} gateway {{.Gateway}}{{end}} internal {{.Internal}}' "$n") bridge $(d network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$n") id ${id:0:12}"
    done
  } >"$dir/networks.txt"
  # Docker's random names: a network's bridge is br- and its id's first
  # 12 hex digits; veths are veth and 7 random ones.
  local app other back
  app=$(d network inspect -f '{{.Id}}' app | cut -c1-12)
  other=$(d network inspect -f '{{.Id}}' other | cut -c1-12)
  back=$(d network inspect -f '{{.Id}}' back | cut -c1-12)
  # c5's interfaces come in either order from one run to the next (its
  # default route is app's either way): named by their network, sorted.
  local on_app
  on_app=$(nsenter --target "${pids[c5]}" --net ip -o -4 addr show | awk -v a="${ip[c5]}/" 'index($4, a) == 1 {print $2}')
  by_network() { if [ "$1" = c5 ]; then sed -E "s/\b$on_app\b/eth(app)/g; s/\beth[0-9]\b/eth(other)/g" | sort; else cat; fi; }
  {
    echo "# node"
    ip -n "$node" -br link | awk '{print $1, $2}' | sed -E 's/@[^ ]+//'
    for c in c0 c1 c3 c4 c5 c6 c7; do
      echo "# $c"
      nsenter --target "${pids[$c]}" --net ip -br addr | sed -E 's/@[^ ]+//; s/ +/ /g' | by_network "$c"
    done
  } | names >"$dir/links.txt"
  for c in c0 c1 c4 c5 c6 c7; do
    echo "# $c"
    nsenter --target "${pids[$c]}" --net ip route | by_network "$c"
  done | names >"$dir/routes.txt"
  if [ "$(readlink "/proc/${pids[c8]}/ns/net")" = "$(ip netns exec "$node" readlink /proc/self/ns/net)" ]; then
    echo "# c8 (network host): the node's own namespace"
  else
    echo "# c8 (network host): a namespace of its own"
  fi >>"$dir/routes.txt"
  sed -i -E "s/$app/(app's id)/g; s/$other/(other's id)/g; s/$back/(back's id)/g; s/ id [0-9a-f]{12}$/ id (random)/; s/veth[0-9a-f]{7}/veth(random)/g" \
    "$dir/networks.txt" "$dir/links.txt" "$dir/iptables.txt" "$dir/routes.txt"
  # The outside host's servers go with its namespace.
  for p in $(ip netns pids "$outside"); do kill "$p" 2>/dev/null || true; done
  stop_dockerd
  echo "docker-reference: user-defined-networks recorded in $dir"
}

for layout in "${layouts[@]}"; do
  case $layout in
    userland-proxy-true) flags="--userland-proxy=true" ;;
    userland-proxy-false) flags="--userland-proxy=false" ;;
    allow-direct-routing) flags="--userland-proxy=true --allow-direct-routing" ;;
    user-defined-networks) flags="--userland-proxy=true" ;;
    ipv6) flags="--userland-proxy=true --ipv6 --fixed-cidr-v6 fd00:172:17::/64" ;;
    ipv6-userland-proxy-false) flags="--userland-proxy=false --ipv6 --fixed-cidr-v6 fd00:172:17::/64" ;;
  esac
  v6=0
  case $layout in ipv6*) v6=1 ;; esac
  machines
  mkdir -p "$out/$layout"
  rm -rf "${tmp:?}/data" "$tmp/exec" "$tmp/conntrack.txt"
  TMP=$tmp FLAGS=$flags ip netns exec "$node" unshare --mount --propagation private bash "$tmp/dockerd.sh" \
    >"$tmp/dockerd-$layout.log" 2>&1 &
  for _ in $(seq 100); do d version >/dev/null 2>&1 && break; sleep 0.2; done
  d version >/dev/null 2>&1 || { cat "$tmp/dockerd-$layout.log" >&2; exit 1; }
  dockerd --version >"$out/$layout/version.txt"
  d import "$tmp/image.tar" netlab/ref:latest >/dev/null
  if [ "$layout" = user-defined-networks ]; then
    record_networks "$out/$layout"
    continue
  fi
  d run -d --name c1 -p 8080:80 netlab/ref httpd -f -p 80 -h /www >/dev/null
  d run -d --name c2 netlab/ref httpd -f -p 80 -h /www >/dev/null
  sleep 1
  c1=$(d inspect -f '{{.NetworkSettings.IPAddress}}' c1)
  c2=$(d inspect -f '{{.NetworkSettings.IPAddress}}' c2)
  # IPv6: the addresses Docker gave (none without --ipv6), named in the
  # answers as C1-6 and C2-6; the outside host serves too, for NAT66.
  c16=$(d inspect -f '{{.NetworkSettings.GlobalIPv6Address}}' c1)
  c26=$(d inspect -f '{{.NetworkSettings.GlobalIPv6Address}}' c2)
  gw6=$(d inspect -f '{{.NetworkSettings.IPv6Gateway}}' c1)
  [ -n "$c16" ] || c16=NONE
  [ -n "$c26" ] || c26=NONE
  if [ "$v6" = 1 ]; then
    ip netns exec "$outside" busybox httpd -f -p 80 -h "$rootfs/www" &
    echo "c1: $c16 c2: $c26 gateway: $gw6" >"$out/$layout/ipv6.txt"
  fi
  url=cgi-bin/who
  {
    probe "node -> 127.0.0.1:8080" ip netns exec "$node" curl -s -m 5 "127.0.0.1:8080/$url"
    probe "node -> [::1]:8080" ip netns exec "$node" curl -g -s -m 5 "http://[::1]:8080/$url"
    probe "node -> NODE:8080" ip netns exec "$node" curl -s -m 5 "192.168.56.11:8080/$url"
    probe "outside -> NODE:8080" ip netns exec "$outside" curl -s -m 5 "192.168.56.11:8080/$url"
    probe "c2 -> NODE:8080" ask c2 192.168.56.11 8080
    probe "c2 -> GATEWAY:8080" ask c2 172.17.0.1 8080
    probe "c1 -> NODE:8080 (hairpin)" ask c1 192.168.56.11 8080
    probe "c2 -> c1:80" ask c2 "$c1" 80
    probe "node -> c1:80" ip netns exec "$node" curl -s -m 5 "$c1:80/$url"
    probe "outside -> c1:80 (routed via NODE)" ip netns exec "$outside" curl -s -m 3 "$c1:80/$url"
    probe "outside -> c2:80 (routed via NODE)" ip netns exec "$outside" curl -s -m 3 "$c2:80/$url"
    ping_probe "outside -> ping c1 (routed via NODE)" "$outside" "$c1"
    if [ "$v6" = 1 ]; then
      probe "node -> [NODE6]:8080" ip netns exec "$node" curl -g -s -m 5 "http://[fd00:56::11]:8080/$url"
      probe "outside -> [NODE6]:8080" ip netns exec "$outside" curl -g -s -m 5 "http://[fd00:56::11]:8080/$url"
      probe "c2 -> [NODE6]:8080" ask c2 fd00:56::11 8080
      probe "c2 -> [GATEWAY6]:8080" ask c2 "$gw6" 8080
      probe "c1 -> [NODE6]:8080 (hairpin)" ask c1 fd00:56::11 8080
      probe "c2 -> [c1]:80" ask c2 "$c16" 80
      probe "node -> [c1]:80" ip netns exec "$node" curl -g -s -m 5 "http://[$c16]:80/$url"
      probe "c1 -> [OUTSIDE6]:80" ask c1 fd00:56::1 80
      probe "outside -> [c1]:80 (routed via NODE6)" ip netns exec "$outside" curl -g -s -m 3 "http://[$c16]:80/$url"
      ping_probe "outside -> ping [c1] (routed via NODE6)" "$outside" "$c16"
      ping_probe "c1 -> ping [OUTSIDE6]" "pid:$(d inspect -f '{{.State.Pid}}' c1)" fd00:56::1
    fi
  } | sed -E "s/\b$c16\b/C1-6/g; s/\b$c26\b/C2-6/g" >"$out/$layout/answers.txt"
  cp "$tmp/conntrack.txt" "$out/$layout/conntrack.txt"
  ip netns exec "$node" iptables-save | sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//' >"$out/$layout/iptables.txt"
  ip netns exec "$node" ip6tables-save | sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//' >"$out/$layout/ip6tables.txt"
  c1pid=$(d inspect -f '{{.State.Pid}}' c1)
  {
    ip -n "$node" -d link show docker0 | sed -E 's/link\/ether [0-9a-f:]+/link\/ether (MAC)/; s/(bridge_id|designated_root) [0-9a-f.:]+/\1 (from the MAC)/g'
    nsenter --target "$c1pid" --net ip -d link show eth0 | sed -E 's/link\/ether [0-9a-f:]+/link\/ether (MAC)/'
  } | sed -E 's/^[0-9]+: //; s/@if[0-9]+//; s/ link-netns [^ ]+//; s/ link-netnsid [0-9]+//; s/(hello|tcn|topology_change|gc|hold|message_age|forward_delay)_timer +[0-9.]+/\1_timer T/g' >"$out/$layout/links.txt"
  {
    echo "docker0: $(mac_kind "$(ip netns exec "$node" cat /sys/class/net/docker0/address)" 172.17.0.1)"
    echo "c1 eth0: $(mac_kind "$(nsenter --target "$c1pid" --net ip -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)" "$c1")"
  } >"$out/$layout/macs.txt"
  # Addresses, IPv6 link-local ones (from a random MAC) by kind only.
  {
    ip -n "$node" -br addr show | sed 's/^/node /'
    nsenter --target "$c1pid" --net ip -br addr show | sed 's/^/c1 /'
  } | grep -v -E '^node (eth1|veth)' | sed -E 's/@[^ ]+//; s/ +/ /g; s/ $//; s/fe80::[0-9a-f:]+\/64/fe80::(link-local)\/64/g' >"$out/$layout/addrs.txt"
  ip netns exec "$node" ss -ltnH | awk '{print "tcp listen " $4}' | sort -u >"$out/$layout/listeners.txt"
  {
    for k in net.ipv4.ip_forward net.ipv4.conf.docker0.route_localnet net.bridge.bridge-nf-call-iptables \
      net.ipv6.conf.all.disable_ipv6 net.ipv6.conf.default.disable_ipv6 net.ipv6.conf.lo.disable_ipv6 \
      net.ipv6.conf.docker0.disable_ipv6 net.ipv6.conf.all.forwarding; do
      echo "node $(ip netns exec "$node" sysctl "$k" 2>&1)"
    done
    for k in net.ipv4.ip_unprivileged_port_start net.ipv4.ping_group_range net.ipv4.conf.all.rp_filter \
      net.ipv6.conf.all.disable_ipv6 net.ipv6.conf.default.disable_ipv6 net.ipv6.conf.lo.disable_ipv6 \
      net.ipv6.conf.eth0.disable_ipv6; do
      echo "container $(nsenter --target "$c1pid" --net sysctl "$k" 2>&1)"
    done
    # c1's veth on the node: its peer's ifindex is c1's eth0's iflink.
    peer=$(nsenter --target "$c1pid" --net ip -o link show eth0 | sed -E 's/^[0-9]+: eth0@if([0-9]+):.*/\1/')
    veth=$(ip -n "$node" -o link show | awk -F': ' -v i="$peer" '$1 == i {sub(/@.*/, "", $2); print $2}')
    echo "c1-veth net.ipv6.conf.VETH.disable_ipv6 = $(ip netns exec "$node" sysctl -n "net.ipv6.conf.$veth.disable_ipv6")"
    echo "c1-veth addresses: $(ip -n "$node" -br addr show dev "$veth" | awk '{$1 = ""; $2 = ""; print}' | sed -E 's/fe80::[0-9a-f:]+\/64/fe80::(link-local)\/64/g; s/^ +//')"
    echo "docker0 hairpin: $(ip -n "$node" -d link show master docker0 | grep -o 'hairpin [a-z]*' | sort -u | tr '\n' ' ')"
  } | tr '\t' ' ' >"$out/$layout/sysctls.txt"
  if [ "$v6" = 1 ]; then
    # IPv6 routes of c1 and of the node (the kernel's own fe80::/64 and
    # multicast ones out), and the neighbours they learned by NDP.
    {
      echo "# node"
      ip -n "$node" -6 route | grep -v -E '^(fe80::/64|multicast|ff00::/8)' | sed -E 's/ +$//; s/veth[0-9a-f]{7}/veth(random)/g'
      echo "# c1"
      nsenter --target "$c1pid" --net ip -6 route | grep -v -E '^(fe80::/64|multicast|ff00::/8)' | sed -E 's/ +$//'
    } >"$out/$layout/routes.txt"
    # Which global neighbours NDP found (states and link-local ones vary
    # from run to run).
    {
      echo "# node"
      ip -n "$node" -6 neigh | awk '$1 !~ /^fe80/ && $NF != "FAILED" {print $1, $2, $3}' | sed -E "s/^$c16 /C1-6 /; s/^$c26 /C2-6 /" | sort -u
      echo "# c1"
      nsenter --target "$c1pid" --net ip -6 neigh | awk '$1 !~ /^fe80/ && $NF != "FAILED" {print $1, $2, $3}' | sort -u
    } >"$out/$layout/neigh.txt"
    # How the global addresses were added: their flags (nodad: no
    # duplicate address detection, usable at once).
    {
      ip -n "$node" -6 -o addr show dev docker0 scope global | sed -E 's/^[0-9]+: //; s/ +/ /g; s/ *\\?\s*valid_lft.*//; s/ +$//'
      nsenter --target "$c1pid" --net ip -6 -o addr show dev eth0 scope global | sed -E 's/^[0-9]+: //; s/ +/ /g; s/ *\\?\s*valid_lft.*//; s/ +$//'
    } >"$out/$layout/addrflags.txt"
    for p in $(ip netns pids "$outside"); do kill "$p" 2>/dev/null || true; done
  fi
  d rm -f c1 c2 >/dev/null
  kill "$(cat "$tmp/dockerd.pid")"
  for _ in $(seq 50); do [ -S "$tmp/docker.sock" ] || break; sleep 0.2; done
  wait || true
  echo "docker-reference: $layout recorded in $out/$layout"
done
