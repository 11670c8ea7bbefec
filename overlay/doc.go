// Package overlay builds the Kubernetes networking model on a node, the way
// flannel's VXLAN backend and the CNI bridge plugin do.
//
// # What Kubernetes asks of the network
//
//   - every pod has its own IP, reachable from every other pod and every
//     node, on any node, with no NAT;
//   - the IP a pod sees on its own eth0 is the IP everyone else sees.
//
// Docker's model cannot give that: every host hands out the same private
// subnet. So each node gets a subnet of its own, its pod CIDR (node K:
// 10.244.K.0/24, out of the cluster CIDR 10.244.0.0/16), and the nodes are
// joined by an overlay that carries pod packets between them untouched.
//
// # A pod
//
// A pod is one network namespace shared by several containers: the app and
// its sidecar here, two processes with one eth0, one IP and one localhost.
// In Kubernetes the namespace is held by the pod's "pause" container, so it
// outlives any app container; in netlab it is a named namespace.
//
// # How it works (on each node)
//
//  1. cni0, a bridge with the pod CIDR's first address (10.244.1.1/24), and a
//     veth pair per pod, eth0 inside: pods on one node talk across cni0.
//  2. flannel.1, a VXLAN device: VNI 1, UDP port 8472, bound to the node's
//     underlay address and interface, with learning off and the address
//     10.244.K.0/32. Its MTU, and every pod's, is the underlay's minus the
//     50 bytes VXLAN adds (inner Ethernet 14, VXLAN 8, UDP 8, outer IP 20).
//  3. For each peer node, three entries, which flannel writes from what the
//     Kubernetes API says of the peer (netlab computes them from the
//     topology, which every node reads):
//     a route:  10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
//     an ARP entry: 10.244.2.0 is at the peer's flannel.1 MAC (permanent)
//     an FDB entry: that MAC is behind the peer's underlay IP (permanent)
//  4. ip_forward=1, and iptables: no NAT between addresses of the cluster
//     CIDR; MASQUERADE only for pod traffic that leaves it.
//
// # Where a packet goes
//
// pod1 (10.244.1.2, node1) to pod3 (10.244.2.2, node2): pod1's default route
// sends it to cni0 (10.244.1.1, the first hop). node1's route for
// 10.244.2.0/24 points at 10.244.2.0 on flannel.1; the ARP entry gives its
// MAC, the FDB entry the underlay IP behind that MAC. The kernel wraps the
// whole Ethernet frame in VXLAN/UDP/IP from 192.168.56.11 to 192.168.56.12
// port 8472. node2's flannel.1 unwraps it (10.244.2.0, the second hop) and
// routes it to cni0 and pod3 (the third). Nothing rewrote an address: pod3
// sees 10.244.1.2.
//
// The tables grow with nodes, not pods: one route, one ARP and one FDB entry
// per peer node.
package overlay
