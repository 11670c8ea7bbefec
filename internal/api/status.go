// Package api holds the JSON documents scripts read from netlab (status
// now; compare and trace next). Their keys are a contract: keys are added,
// never renamed or removed, and Version says which shape a document has.
package api

import "time"

// Version is the shape of the documents of this package.
const Version = 1

// Status is one lab in 'netlab status --json'.
type Status struct {
	Version  int       `json:"version"`
	Lab      string    `json:"lab"`
	Mode     string    `json:"mode"`
	Status   string    `json:"status"`
	Created  time.Time `json:"created"`
	Embedded bool      `json:"embedded"`
	Underlay string    `json:"underlay"`
	Subnet   string    `json:"subnet,omitempty"`
	// IPv6 says the lab is dual-stack; Underlay6 and Subnet6 are its IPv6
	// prefixes.
	IPv6        bool   `json:"ipv6"`
	Underlay6   string `json:"underlay6,omitempty"`
	Subnet6     string `json:"subnet6,omitempty"`
	ClusterCIDR string `json:"cluster_cidr,omitempty"`
	// ClusterCIDR6 is the Kubernetes model's IPv6 cluster CIDR.
	ClusterCIDR6 string `json:"cluster_cidr6,omitempty"`
	// Docker is the Docker model's version ("28" or "20.10") and its
	// options, as the lab builds them.
	Docker *DockerSettings `json:"docker,omitempty"`
	// Backend is the Kubernetes model's flannel backend: vxlan or host-gw.
	Backend string `json:"backend,omitempty"`
	// ProxyMode is the Kubernetes model's kube-proxy mode: iptables or
	// nftables.
	ProxyMode string      `json:"proxy_mode,omitempty"`
	MTU       int         `json:"mtu,omitempty"`
	Nodes     []Node      `json:"nodes"`
	Workloads []Workload  `json:"workloads"`
	Published []Published `json:"published,omitempty"`
	// BrNetfilter says bridged packets pass iptables (br_netfilter).
	BrNetfilter bool `json:"br_netfilter"`
	// Hint says what to run when status is not "up": building,
	// interrupted, partial or damaged.
	Hint string `json:"hint,omitempty"`
	// Missing are the namespaces of the lab's plan that are gone.
	Missing []string `json:"missing,omitempty"`
}

// Node is a node or the outside host.
type Node struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Netns is null for a peer node of a real one: another machine.
	Netns      *string `json:"netns"`
	UnderlayIP string  `json:"underlay_ip"`
	Iface      string  `json:"iface"`
	Local      bool    `json:"local"`
	Bridge     string  `json:"bridge,omitempty"`
	BridgeIP   string  `json:"bridge_ip,omitempty"`
	PodCIDR    string  `json:"pod_cidr,omitempty"`
	VTEP       string  `json:"vtep_ip,omitempty"`
	VTEPMAC    string  `json:"vtep_mac,omitempty"`
	// UnderlayIP6 and BridgeIP6 are its IPv6 addresses, in a dual-stack
	// lab.
	UnderlayIP6 string `json:"underlay_ip6,omitempty"`
	BridgeIP6   string `json:"bridge_ip6,omitempty"`
	// PodCIDR6, VTEP6 and VTEPMAC6 are a Kubernetes node's IPv6 pod CIDR
	// and its flannel-v6.1's address and MAC.
	PodCIDR6 string `json:"pod_cidr6,omitempty"`
	VTEP6    string `json:"vtep_ip6,omitempty"`
	VTEPMAC6 string `json:"vtep_mac6,omitempty"`
}

// Workload is a container or a pod.
type Workload struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Node       string   `json:"node"`
	Netns      string   `json:"netns"`
	IP         string   `json:"ip"`
	CIDR       string   `json:"cidr"`
	Iface      string   `json:"iface"`
	HostIface  string   `json:"host_iface"`
	Port       int      `json:"port"`
	Containers []string `json:"containers,omitempty"`
	// Networks are a Docker container's interfaces on its networks, when
	// it is on a user-defined one (eth0's first); NetworkMode is its mode
	// when it has none of its own: host (ip is the node's), none (ip is
	// empty), container:NAME (netns and ip are NAME's). Aliases are its
	// other names in Docker's embedded DNS.
	Networks    []Attachment `json:"networks,omitempty"`
	NetworkMode string       `json:"network_mode,omitempty"`
	Aliases     []string     `json:"aliases,omitempty"`
	// Applied: a pod of 'netlab apply' (a Deployment's or a Pod's) or of
	// the cluster itself (System "dns"), not of the lab's topology. Its
	// Namespace is the Kubernetes one; Owner, the Deployment that made it.
	Applied   bool   `json:"applied,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Owner     string `json:"owner,omitempty"`
	System    string `json:"system,omitempty"`
	Ready     *bool  `json:"ready,omitempty"`
	// IP6 and CIDR6 are its IPv6 address, in a dual-stack lab.
	IP6   string `json:"ip6,omitempty"`
	CIDR6 string `json:"cidr6,omitempty"`
}

// DockerSettings are the Docker model's: whose rules, and how.
type DockerSettings struct {
	Version            string `json:"version"`
	UserlandProxy      bool   `json:"userland_proxy"`
	AllowDirectRouting bool   `json:"allow_direct_routing"`
	// Networks are the node's Docker networks, the default bridge first,
	// as `docker network ls` lists them (on every node alike).
	Networks []DockerNetwork `json:"networks"`
}

// DockerNetwork is one of Docker's bridge networks.
type DockerNetwork struct {
	Name     string `json:"name"`
	ID       string `json:"id,omitempty"`
	Subnet   string `json:"subnet"`
	Gateway  string `json:"gateway"`
	Bridge   string `json:"bridge"`
	Internal bool   `json:"internal"`
}

// Attachment is a container's interface on one Docker network.
type Attachment struct {
	Network   string `json:"network"`
	Iface     string `json:"iface"`
	IP        string `json:"ip"`
	CIDR      string `json:"cidr"`
	Bridge    string `json:"bridge"`
	HostIface string `json:"host_iface"`
}

// Published is a published port of the Docker model.
type Published struct {
	Node       string `json:"node"`
	HostPort   int    `json:"host_port"`
	Workload   string `json:"workload"`
	TargetIP   string `json:"target_ip"`
	TargetPort int    `json:"target_port"`
	// TargetIP6 is the IPv6 address the port leads to (node:8080 over
	// IPv6), in a dual-stack lab.
	TargetIP6 string `json:"target_ip6,omitempty"`
	// UserlandProxy says docker-proxy listens on the port, as by Docker's
	// default.
	UserlandProxy bool `json:"userland_proxy"`
}
