#!/usr/bin/env bash
# docker-mode.sh: the Docker networking model, built in plain shell.
#
# This is what `netlab docker-mode` does, one ip/iptables/sysctl command at a
# time, to read along and to time against (make bench). It builds the same
# embedded lab: hosts node1..nodeN and an outside host, each a network
# namespace on an underlay switch (192.168.56.0/24, like two Vagrant VMs on a
# private network), and on every host a docker0 bridge with containers.
#
#   sudo scripts/docker-mode.sh up   [LAB] [NODES] [CONTAINERS] [VERSION]   (default: docker 2 2 28)
#   sudo scripts/docker-mode.sh down [LAB]
#
# VERSION is the Docker whose rules it writes: 28 (Docker 28's layout, the
# default) or 20.10, as `netlab docker-mode --docker-version` does.
#
# The namespaces carry netlab's markers, so `sudo netlab down --lab LAB`
# removes this lab too. Unlike netlab, the script starts no web servers.
set -euo pipefail

action=${1:-up}
LAB=${2:-docker}
NODES=${3:-2}
CONTAINERS=${4:-2}
VERSION=${5:-28}
case $VERSION in 28 | 20.10) ;; *) echo "$0: no such Docker version: $VERSION (28 or 20.10)" >&2; exit 2 ;; esac

UNDERLAY_PREFIX=192.168.56   # the private network: .1 is outside, .11.. are the nodes
SUBNET=172.17.0.0/16         # docker0's subnet: the same on every host, as in Docker
GATEWAY=172.17.0.1
MARK="netlab:$LAB"           # every rule's comment starts with this

# netns NAME [SYSCTL=VALUE...]: a network namespace with lo up, marked as
# this lab's, IPv4 only, with the sysctls the lab depends on pinned.
netns() {
  local name=$1
  shift
  ip netns add "$LAB-$name"
  # No IPv6: this lab is IPv4, and IPv6 autoconf on every bridge port would
  # make each new port slower than the last (Docker turns it off too).
  # A new namespace inherits the machine's IPv4 settings: pin a fresh
  # kernel's, so a hardened host (strict rp_filter, no redirects) changes
  # nothing here. Bridged packets pass iptables where br_netfilter is loaded.
  ip netns exec "$LAB-$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.default.arp_ignore=0 \
    net.ipv4.conf.all.arp_announce=0 net.ipv4.conf.default.arp_announce=0 \
    net.ipv4.conf.all.accept_redirects=1 net.ipv4.conf.default.accept_redirects=1 \
    net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.default.send_redirects=1 "$@"
  ip netns exec "$LAB-$name" sysctl -qew net.bridge.bridge-nf-call-iptables=1
  ip -n "$LAB-$name" link set lo up alias "netlab:$LAB:$name"
}

# host NAME IP: a machine on the underlay, wired to the switch with eth1.
host() {
  netns "$1"
  ip -n "$LAB-underlay" link add "$1" master br-underlay up type veth peer name eth1 netns "$LAB-$1"
  ip -n "$LAB-underlay" link set "$1" alias "netlab:$LAB:$1"
  ip -n "$LAB-$1" link set eth1 up
  ip -n "$LAB-$1" addr add "$2/24" dev eth1
}

# ipt NODE ARGS...: iptables inside a node.
ipt() { local node=$1; shift; ip netns exec "$LAB-$node" iptables -w "$@"; }

# nth N: the N-th address of 172.17.0.0/16 (1 is the gateway).
nth() { echo "172.17.$(( $1 / 256 )).$(( $1 % 256 ))"; }

# mac IP: the MAC Docker 20.10 gives a container, 02:42 and the IP's bytes.
mac() {
  local IFS=.
  # shellcheck disable=SC2086 # split on dots
  set -- $1
  printf '02:42:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4"
}

# random_mac [PREFIX]: a random locally administered unicast MAC, as Docker
# 28 gives docker0 and its containers (with PREFIX 02:42, 20.10's docker0).
random_mac() {
  local b
  b=$(od -An -N6 -tx1 /dev/urandom | tr -s ' ' ':' | sed 's/^://; s/:$//')
  if [ -n "${1:-}" ]; then
    echo "$1:${b:6}"
  else
    printf '%02x%s\n' $(((0x${b:0:2} & 0xfe) | 0x02)) "${b:2}"
  fi
}

# nat_rules NODE: the first nat rules of both versions with docker-proxy
# (20.10 adds the hairpin MASQUERADE after them).
nat_rules() {
  local node=$1
  ipt "$node" -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "$MARK published ports, for packets arriving at this host" -j DOCKER
  ipt "$node" -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "$MARK published ports, for packets from this host itself (127.0.0.1 is docker-proxy's)" -j DOCKER
  ipt "$node" -t nat -A POSTROUTING -s "$SUBNET" ! -o docker0 -m comment --comment "$MARK containers leaving the host take its address" -j MASQUERADE
}

# docker2010 NODE C1 FIRST: dockerd 20.10's rules.
docker2010() {
  local node=$1 c1=$2 first=$3
  ipt "$node" -t nat -N DOCKER
  ipt "$node" -t filter -N DOCKER
  ipt "$node" -t filter -N DOCKER-ISOLATION-STAGE-1
  ipt "$node" -t filter -N DOCKER-ISOLATION-STAGE-2
  ipt "$node" -t filter -N DOCKER-USER
  ipt "$node" -t filter -P FORWARD DROP
  nat_rules "$node"
  ipt "$node" -t nat -A POSTROUTING -s "$first/32" -d "$first/32" -p tcp --dport 80 -m comment --comment "$MARK a container to its own published port (hairpin)" -j MASQUERADE
  ipt "$node" -t nat -A DOCKER -i docker0 -m comment --comment "$MARK containers do not go through published ports: docker-proxy serves them" -j RETURN
  ipt "$node" -t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -m comment --comment "$MARK publish $c1:80 on port 8080" -j DNAT --to-destination "$first:80"
  ipt "$node" -t filter -A FORWARD -m comment --comment "$MARK the place for the user's own rules, first" -j DOCKER-USER
  ipt "$node" -t filter -A FORWARD -m comment --comment "$MARK Docker networks do not reach each other" -j DOCKER-ISOLATION-STAGE-1
  ipt "$node" -t filter -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "$MARK replies to containers" -j ACCEPT
  ipt "$node" -t filter -A FORWARD -o docker0 -m comment --comment "$MARK to containers: only their published ports" -j DOCKER
  ipt "$node" -t filter -A FORWARD -i docker0 ! -o docker0 -m comment --comment "$MARK containers may go anywhere" -j ACCEPT
  ipt "$node" -t filter -A FORWARD -i docker0 -o docker0 -m comment --comment "$MARK containers of one bridge talk to each other" -j ACCEPT
  ipt "$node" -t filter -A DOCKER -d "$first/32" ! -i docker0 -o docker0 -p tcp --dport 80 -m comment --comment "$MARK the published port" -j ACCEPT
  ipt "$node" -t filter -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -m comment --comment "$MARK leaving docker0 for another interface" -j DOCKER-ISOLATION-STAGE-2
  ipt "$node" -t filter -A DOCKER-ISOLATION-STAGE-1 -m comment --comment "$MARK the rest" -j RETURN
  ipt "$node" -t filter -A DOCKER-ISOLATION-STAGE-2 -o docker0 -m comment --comment "$MARK not into another Docker network" -j DROP
  ipt "$node" -t filter -A DOCKER-ISOLATION-STAGE-2 -m comment --comment "$MARK the rest" -j RETURN
  ipt "$node" -t filter -A DOCKER-USER -m comment --comment "$MARK no rules of the user's yet" -j RETURN
}

# docker28 NODE C1 FIRST N: dockerd 28's rules, for containers cN.. of the
# node: FORWARD through DOCKER-FORWARD, the drops in raw, and ip6tables.
docker28() {
  local node=$1 c1=$2 first=$3 n=$4 i tool
  for tool in iptables ip6tables; do
    ip netns exec "$LAB-$node" "$tool" -w -t nat -N DOCKER
    for chain in DOCKER DOCKER-BRIDGE DOCKER-CT DOCKER-FORWARD DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
      ip netns exec "$LAB-$node" "$tool" -w -t filter -N "$chain"
    done
  done
  ipt "$node" -t filter -P FORWARD DROP
  # No way into a container but through docker0: what is routed to one
  # from elsewhere is dropped, before any NAT.
  for i in $(seq 0 $((CONTAINERS - 1))); do
    ipt "$node" -t raw -A PREROUTING -d "$(nth $((i + 2)))/32" ! -i docker0 -m comment --comment "$MARK no way into c$((n + i)) but through docker0: routed from elsewhere, dropped" -j DROP
  done
  nat_rules "$node"
  ipt "$node" -t nat -A DOCKER -i docker0 -m comment --comment "$MARK containers do not go through published ports: docker-proxy serves them" -j RETURN
  ipt "$node" -t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -m comment --comment "$MARK publish $c1:80 on port 8080" -j DNAT --to-destination "$first:80"
  ipt "$node" -t filter -A FORWARD -m comment --comment "$MARK the place for the user's own rules, first" -j DOCKER-USER
  ipt "$node" -t filter -A FORWARD -m comment --comment "$MARK Docker's forwarding rules" -j DOCKER-FORWARD
  ipt "$node" -t filter -A DOCKER -d "$first/32" ! -i docker0 -o docker0 -p tcp --dport 80 -m comment --comment "$MARK the published port" -j ACCEPT
  ipt "$node" -t filter -A DOCKER ! -i docker0 -o docker0 -m comment --comment "$MARK nothing else into docker0 from outside it" -j DROP
  ipt "$node" -t filter -A DOCKER-BRIDGE -o docker0 -m comment --comment "$MARK into docker0: its published ports" -j DOCKER
  ipt "$node" -t filter -A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "$MARK replies to containers" -j ACCEPT
  ipt "$node" -t filter -A DOCKER-FORWARD -m comment --comment "$MARK replies first" -j DOCKER-CT
  ipt "$node" -t filter -A DOCKER-FORWARD -m comment --comment "$MARK Docker networks do not reach each other" -j DOCKER-ISOLATION-STAGE-1
  ipt "$node" -t filter -A DOCKER-FORWARD -m comment --comment "$MARK into a bridge" -j DOCKER-BRIDGE
  ipt "$node" -t filter -A DOCKER-FORWARD -i docker0 -m comment --comment "$MARK containers may go anywhere" -j ACCEPT
  ipt "$node" -t filter -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -m comment --comment "$MARK leaving docker0 for another interface" -j DOCKER-ISOLATION-STAGE-2
  ipt "$node" -t filter -A DOCKER-ISOLATION-STAGE-2 -o docker0 -m comment --comment "$MARK not into another Docker network" -j DROP
  # ip6tables: the same chains and jumps; docker0 has no IPv6 of Docker's.
  ip6t() { ip netns exec "$LAB-$node" ip6tables -w "$@"; }
  ip6t -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "$MARK published ports, for packets arriving at this host" -j DOCKER
  ip6t -t nat -A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -m comment --comment "$MARK published ports, for packets from this host itself (::1 is docker-proxy's)" -j DOCKER
  ip6t -t filter -A FORWARD -m comment --comment "$MARK the place for the user's own rules, first" -j DOCKER-USER
  ip6t -t filter -A FORWARD -m comment --comment "$MARK Docker's forwarding rules" -j DOCKER-FORWARD
  ip6t -t filter -A DOCKER-FORWARD -m comment --comment "$MARK replies first" -j DOCKER-CT
  ip6t -t filter -A DOCKER-FORWARD -m comment --comment "$MARK Docker networks do not reach each other" -j DOCKER-ISOLATION-STAGE-1
  ip6t -t filter -A DOCKER-FORWARD -m comment --comment "$MARK into a bridge" -j DOCKER-BRIDGE
}

up() {
  # 1. The underlay: one switch, the outside host and every node.
  netns underlay
  ip -n "$LAB-underlay" link add br-underlay up type bridge
  ip -n "$LAB-underlay" link set br-underlay alias "netlab:$LAB:br-underlay"
  for n in $(seq 1 "$NODES"); do
    host "node$n" "$UNDERLAY_PREFIX.$((10 + n))"
    ip -n "$LAB-node$n" route add default via "$UNDERLAY_PREFIX.1"   # the rest of the world is behind outside
  done
  host outside "$UNDERLAY_PREFIX.1"

  c=0
  for n in $(seq 1 "$NODES"); do
    node=node$n
    # 2. docker0: the hosts's switch for its containers, and their router.
    # A Docker host has IPv6 (::1 on lo, link-local addresses on docker0
    # and the veths, docker-proxy on [::]); the containers' eth0 have none.
    ip netns exec "$LAB-$node" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
    ip netns exec "$LAB-$node" sysctl -qw net.ipv4.ip_forward=1
    # docker0's MAC: random (28), 02:42 and four random bytes (20.10).
    if [ "$VERSION" = 28 ]; then brmac=$(random_mac); else brmac=$(random_mac 02:42); fi
    ip -n "$LAB-$node" link add docker0 address "$brmac" up type bridge
    ip -n "$LAB-$node" link set docker0 alias "netlab:$LAB:docker0"
    ip -n "$LAB-$node" addr add "$GATEWAY/16" dev docker0

    # 3. Containers: a namespace, a veth pair into docker0, an address, a route.
    first=""
    for i in $(seq 1 "$CONTAINERS"); do
      c=$((c + 1))
      ip=$(nth $((i + 1)))
      first=${first:-$ip}
      # Docker's sysctls of every container: any port, and ping, unprivileged.
      # 28 leaves IPv6 on but for eth0 (lo has ::1): all on (which sets
      # default too), default off while eth0 arrives, then on again.
      if [ "$VERSION" = 28 ]; then
        netns "c$c" net.ipv4.ip_unprivileged_port_start=0 "net.ipv4.ping_group_range=0 2147483647" \
          net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=1
        cmac=$(random_mac) # 28: random; 20.10: 02:42 and the address
      else
        netns "c$c" net.ipv4.ip_unprivileged_port_start=0 "net.ipv4.ping_group_range=0 2147483647"
        cmac=$(mac "$ip")
      fi
      ip -n "$LAB-$node" link add "veth-c$c" master docker0 up type veth peer name eth0 address "$cmac" netns "$LAB-c$c"
      ip -n "$LAB-$node" link set "veth-c$c" alias "netlab:$LAB:c$c"
      ip -n "$LAB-c$c" link set eth0 up
      [ "$VERSION" = 28 ] && ip netns exec "$LAB-c$c" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
      ip -n "$LAB-c$c" addr add "$ip/16" dev eth0
      ip -n "$LAB-c$c" route add default via "$GATEWAY"
    done

    # 4. NAT and forwarding: dockerd's own chains and rules, in its order
    #    (each with our comment), and the FORWARD policy DROP it sets.
    c1="c$((c - CONTAINERS + 1))"
    if [ "$VERSION" = 28 ]; then
      docker28 "$node" "$c1" "$first" $((c - CONTAINERS + 1))
    else
      docker2010 "$node" "$c1" "$first"
    fi
  done
}

down() {
  # Deleting a namespace deletes every interface, route and rule in it.
  for ns in $(ip netns list | awk '{print $1}'); do
    case $ns in "$LAB"-*) ;; *) continue ;; esac
    # Only namespaces marked as this lab's: never anyone else's.
    if ip -n "$ns" -d link show lo | grep -q "alias netlab:$LAB:"; then
      ip netns del "$ns"
    fi
  done
}

case $action in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [LAB] [NODES] [CONTAINERS]" >&2; exit 2 ;;
esac
