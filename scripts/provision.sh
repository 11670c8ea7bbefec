#!/usr/bin/env bash
# provision.sh NODE NODES SUBNET: make a VM a netlab node (run by Vagrant, as root).
#  1. install the tools the labs use, and a Go to build netlab with;
#  2. build and install netlab from /vagrant;
#     (with NETLAB_OFFLINE=1, neither: the tools must be there already and
#     netlab built on the host, as make vm-test does, or in the box, as a
#     box made with 'vagrant package' has it;)
#     (with NETLAB_PROXY=http://HOST:PORT, every download goes through that
#     HTTP proxy: apt's, and Go's modules and toolchain;)
#  3. load br_netfilter, as a Kubernetes node does (netlab's Services need it);
#  4. record which node this VM is, and the topology every node reads:
#     the nodes, their underlay addresses and the underlay interface, which
#     is the one holding this VM's private-network address (never Vagrant's
#     NAT interface, eth0 with 10.0.2.15: the reason flannel has --iface);
#  5. give the private network an IPv6 address too, for dual-stack labs
#     (--ipv6): fd00:56::<host number> (node1 is fd00:56::11), as netlab
#     computes it, on the same interface; router advertisements (QEMU's and
#     VirtualBox's user networks send them on the NAT interface) stay the
#     NAT interface's.
set -euo pipefail

node=${1:?usage: provision.sh NODE NODES SUBNET}
nodes=${2:?usage: provision.sh NODE NODES SUBNET}
subnet=${3:?usage: provision.sh NODE NODES SUBNET}
src=${NETLAB_SRC:-/vagrant}
export DEBIAN_FRONTEND=noninteractive

if [ "${NETLAB_OFFLINE:-0}" = 1 ]; then
  # Offline (make vm-test, or a box built with the tools in it): nothing is
  # downloaded. The tools must be in the VM already, and netlab built on the
  # host, in the shared folder ($src/bin/netlab).
  missing=
  for tool in ip iptables ping traceroute curl tcpdump iperf3 ethtool nsenter pgrep; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    echo "provision: offline, but this VM lacks:$missing (install them, or provision online)" >&2
    exit 1
  fi
  if [ ! -x "$src/bin/netlab" ]; then
    if [ -x /usr/local/bin/netlab ]; then
      # A box made from a provisioned VM ('vagrant package'): its netlab.
      echo "provision: offline: the netlab in the box (/usr/local/bin/netlab, built when the box was made)"
    else
      echo "provision: offline, but $src/bin/netlab is missing: run 'make build' on the host first, or use a box with netlab in it" >&2
      exit 1
    fi
  fi
else
  if [ -n "${NETLAB_PROXY:-}" ]; then
    # A room's cache or proxy: apt's downloads, and Go's (which read the
    # environment), go through it.
    printf 'Acquire::http::Proxy "%s";\nAcquire::https::Proxy "%s";\n' "$NETLAB_PROXY" "$NETLAB_PROXY" >/etc/apt/apt.conf.d/90netlab-proxy
    export http_proxy=$NETLAB_PROXY https_proxy=$NETLAB_PROXY HTTP_PROXY=$NETLAB_PROXY HTTPS_PROXY=$NETLAB_PROXY
    echo "provision: downloading through $NETLAB_PROXY"
  fi
  if [ -s /tmp/netlab-proxy-ca.crt ]; then
    # NETLAB_PROXY_CA: the CA of a proxy that inspects TLS, trusted by apt,
    # curl and Go alike; one file a certificate, as update-ca-certificates
    # wants them (the file may hold several).
    (umask 022 && awk '/-----BEGIN CERTIFICATE-----/ { n++; f = sprintf("/usr/local/share/ca-certificates/netlab-proxy-ca-%d.crt", n) }
      f { print > f } /-----END CERTIFICATE-----/ { close(f); f = "" }' /tmp/netlab-proxy-ca.crt)
    update-ca-certificates >/dev/null
    echo "provision: trusting the proxy's CA (NETLAB_PROXY_CA)"
  fi
  t0=$SECONDS
  # 1. Tools.
  apt-get update -qq
  apt-get install -y -qq iproute2 iptables iputils-ping traceroute curl tcpdump iperf3 \
    ethtool util-linux procps gcc libc6-dev make git ca-certificates conntrack nfacct ipset nftables >/dev/null

  # A Go to build with (1.21 or later: it fetches go.mod's toolchain itself).
  go=$("$src/scripts/install-go.sh")
  export GOTOOLCHAIN=auto

  # 2. netlab itself.
  make -C "$src" build GO="$go"
  echo "provision: tools installed and netlab built online in $((SECONDS - t0)) s"
fi
if [ -x "$src/bin/netlab" ]; then
  install -m 0755 "$src/bin/netlab" /usr/local/bin/
fi

# 3. Bridged traffic meets iptables, as on every Kubernetes node (kubeadm's
#    prerequisites; Docker loads it too): a pod's request to a Service that
#    lands on a pod of the same node is answered across cni0, and only
#    br_netfilter lets that answer meet conntrack to be un-DNATed.
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  modprobe br_netfilter
fi
echo br_netfilter >/etc/modules-load.d/netlab.conf

# 4. Who this VM is, and the topology every node reads.
me=$((10 + ${node#node}))
iface=$(ip -o -4 addr show | awk -v ip="$subnet.$me" '{split($4, a, "/")} a[1] == ip {print $2; exit}')
if [ -z "$iface" ]; then
  echo "provision: no interface has $subnet.$me: is the private network up?" >&2
  exit 1
fi
mkdir -p /etc/netlab
echo "$node" >/etc/netlab/node
{
  echo "# Written by scripts/provision.sh: the same on every node, but for iface (this VM's own)."
  echo "underlay: $subnet.0/24"
  echo "outside: $subnet.1"
  echo "iface: $iface"
  echo "nodes:"
  for i in $(seq 1 "$nodes"); do
    echo "  - {name: node$i, ip: $subnet.$((10 + i))}"
  done
} >/etc/netlab/topology.yaml

# 5. The private network's IPv6 address: now, and at every boot where
# ifupdown configures the interface (Debian's, as Vagrant's boxes and the
# VM test's image have it). No duplicate address detection: the address is
# this VM's by construction, and usable at once.
v6=fd00:56::$me
if [ "$(sysctl -n "net.ipv6.conf.$iface.disable_ipv6" 2>/dev/null || echo 1)" = 0 ]; then
  ip -6 addr replace "$v6/64" dev "$iface" nodad
  if [ -d /etc/network/interfaces.d ]; then
    printf 'iface %s inet6 static\n  address %s/64\n  dad-attempts 0\n' "$iface" "$v6" >"/etc/network/interfaces.d/netlab-$iface-ipv6"
  fi
else
  echo "provision: IPv6 is off on $iface: dual-stack labs (--ipv6) will not run here" >&2
fi

echo "provision: this VM is $node (underlay $iface $subnet.$me, $v6); try: sudo netlab overlay-mode"
