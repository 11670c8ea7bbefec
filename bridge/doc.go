// Package bridge builds the Docker networking model on a node: the default
// "bridge" network that `docker run` gives a container.
//
// # Why a bridge
//
// A container is a network namespace: its own interfaces, addresses,
// routes and firewall, and nothing else. To talk to anything it needs a
// wire out, and Docker uses a veth pair: two interfaces joined back to back,
// one end (eth0) inside the container, the other end (vethXXX) left on the
// host. All the host ends are plugged into one Linux bridge, docker0, which
// acts as a switch for the containers and, with the address 172.17.0.1/16,
// as their router.
//
// # How it works
//
//  1. docker0: a bridge with 172.17.0.1/16. Every host uses the same subnet,
//     so the address of a container means something only on its own host.
//  2. Per container: a namespace, a veth pair (eth0 in the container,
//     veth-cN on docker0), an address from the host's pool (172.17.0.2, .3,
//     ...) and a default route via 172.17.0.1.
//  3. ip_forward=1, so the host routes between docker0 and its uplink.
//  4. NAT on the way out: iptables MASQUERADE rewrites the source of anything
//     from 172.17.0.0/16 that leaves through another interface than docker0,
//     so the rest of the world sees the host's address and answers to it.
//  5. NAT on the way in: a published port is a DNAT rule (Docker keeps them
//     in its DOCKER chain, and so does netlab on an embedded node, where the
//     tables are dockerd's own; on a real node NETLAB-<LAB>-DNAT plays it) that rewrites
//     host:8080 to container:80 before routing, so the packet is routed into
//     docker0. The container sees the real client address. Beside the
//     rule, as Docker does by default, docker-proxy (a process of the host,
//     the userland proxy) listens on host:8080 for what the rules do not
//     catch: the host's own 127.0.0.1:8080, containers of the same bridge,
//     a container to its own published port. It relays each connection
//     from the bridge's address, so there the container sees 172.17.0.1.
//
// # Where a packet goes
//
//   - Container to container on one host: eth0, veth, docker0 switches it to
//     the other veth. No routing, no NAT: the receiver sees 172.17.0.x.
//   - Container to the outside: eth0, docker0, routed by the host out of its
//     uplink, source rewritten to the host's address (MASQUERADE).
//     traceroute shows 172.17.0.1 as the first hop.
//   - Container on node1 to a container on node2: impossible by address.
//     172.17.0.3 on node1 is node1's own container or no one (the subnet is
//     on docker0, so node1 ARPs for it there and never sends it out).
//   - Outside to a container: through a published port. The container's
//     own address is private to its host; the FORWARD policy DROP drops traffic
//     routed to it from outside, but for TCP to the published container's
//     port, which Docker 20.10 accepts too (Docker 28 drops it in raw).
//
// The tables grow with containers on one host only: one veth and one
// address per container, one DNAT rule per published port. Nothing is
// shared between hosts, which is the whole limitation that Kubernetes'
// model (package overlay) removes.
package bridge
