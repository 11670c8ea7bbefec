package overlay

import (
	"netlab/internal/lab"
	"netlab/internal/topo"
)

func init() {
	lab.RegisterMode(lab.Mode{Verb: "overlay-mode", Name: Mode, Workloads: "pods",
		Short: "Build the Kubernetes model: a pod CIDR and cni0 per node, pods, a flannel-style VXLAN overlay, no NAT",
		Long: `Build the Kubernetes networking model in an embedded lab: nodes node1..nodeN on
the same underlay as docker-mode, an outside host, and on every node a pod CIDR
(10.244.K.0/24 out of 10.244.0.0/16) behind a cni0 bridge, pods (one network
namespace shared by an app and a sidecar container), and flannel.1, a VXLAN
device (VNI 1, UDP 8472) with a route, ARP and FDB entry per peer node. No NAT
between pods or between nodes and pods; MASQUERADE only out of the cluster.`,
		Plan: Plan,
		Bools: []lab.BoolFlag{{Name: "ipv6",
			Usage: "dual-stack, as flannel's EnableIPv6 makes it: every pod gets an IPv6 address from its node's /64 of fd00:10:244::/56 beside its IPv4 one, flannel-v6.1 joins the nodes over the underlay's IPv6, still without NAT between pods",
			Set:   func(o *topo.Options, v bool) { o.IPv6 = &v }}},
		Strings: []lab.StringFlag{{Name: "backend", Default: topo.VXLAN,
			Usage: "flannel's backend: vxlan (an overlay, VXLAN between nodes) or host-gw (no encapsulation: a route per peer node, on one L2 segment)",
			Set:   func(o *topo.Options, v string) { o.Backend = &v }},
			{Name: "proxy-mode", Default: topo.ProxyIPTables,
				Usage: "kube-proxy's mode: iptables (KUBE-SERVICES, KUBE-SVC-… and KUBE-SEP-… chains, its default) or nftables (table kube-proxy: a verdict map from ClusterIP, protocol and port to a service chain, numgen to an endpoint chain)",
				Set:   func(o *topo.Options, v string) { o.ProxyMode = &v }}},
	})
}
